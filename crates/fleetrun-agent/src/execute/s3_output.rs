//! SendCommand's `OutputS3BucketName`: each step's non-empty stdout and stderr, written to the command's
//! bucket in SSM's key layout with the node's own AWS credentials (the server keeps its own full copy too).

use crate::s3client::{S3Client, credentials::node_chain};
use fleetrun_proto::{AssignedStep, OutputS3};
use std::path::Path;

/// Uploads the step's output files from `dir`; returns a note for the step's stderr when one failed.
pub(super) async fn upload(
    ctx: &super::Context,
    target: &OutputS3,
    command_id: &str,
    step: &AssignedStep,
    dir: &Path,
) -> Option<String> {
    let region = if target.region.is_empty() { ctx.download.region.clone() } else { target.region.clone() };
    let client = match S3Client::new(ctx.download.s3_endpoint.as_deref(), &region, node_chain().credentials().await) {
        Ok(client) => client,
        Err(error) => {
            return Some(format!("\n(fleetrun: writing the output to s3://{} failed: {error})\n", target.bucket));
        }
    };
    for (stream, file) in [("stdout", crate::runner::STDOUT_FILE), ("stderr", crate::runner::STDERR_FILE)] {
        let Ok(bytes) = std::fs::read(dir.join(file)) else { continue };
        if bytes.is_empty() {
            continue;
        }
        let key = target.key(command_id, &ctx.instance_id, &step.action, &step.name, stream);
        if let Err(error) = client.put_object(&target.bucket, &key, bytes.into()).await {
            tracing::warn!(command_id, bucket = %target.bucket, error = %error, "Writing output to S3 failed.");
            return Some(format!("\n(fleetrun: writing the output to s3://{}/{key} failed: {error})\n", target.bucket));
        }
    }
    None
}
