//! The `Store` implementation both engines share: every trait method forwards to the engine's
//! `<method>_impl`, which lives next to the SQL it runs (one file per resource). Written once here so the
//! two engines cannot drift in which methods they forward; engine-only methods are passed in.

/// Implements [`crate::Store`] for an engine type by forwarding to its `_impl` methods, plus `extra` items.
macro_rules! impl_store {
    ($engine:ty, { $($extra:tt)* }) => {
        #[async_trait::async_trait]
        impl $crate::Store for $engine {
            async fn insert_access_key(&self, key: &AccessKey) -> Result<()> {
                self.insert_access_key_impl(key).await
            }
            async fn get_access_key(&self, id: &str) -> Result<Option<AccessKey>> {
                self.get_access_key_impl(id).await
            }
            async fn list_access_keys(&self) -> Result<Vec<AccessKey>> {
                self.list_access_keys_impl().await
            }
            async fn delete_access_key(&self, id: &str) -> Result<()> {
                self.delete_access_key_impl(id).await
            }
            async fn replace_access_key_secret(&self, id: &str, old: &str, new: &str) -> Result<bool> {
                self.replace_access_key_secret_impl(id, old, new).await
            }
            async fn create_activation(&self, a: &Activation) -> Result<()> {
                self.create_activation_impl(a).await
            }
            async fn list_activations(&self) -> Result<Vec<Activation>> {
                self.list_activations_impl().await
            }
            async fn delete_activation(&self, id: &str) -> Result<()> {
                self.delete_activation_impl(id).await
            }
            async fn register_node(&self, r: &Registration) -> Result<Node> {
                self.register_node_impl(r).await
            }
            async fn get_node(&self, id: &str) -> Result<Option<Node>> {
                self.get_node_impl(id).await
            }
            async fn list_nodes(&self) -> Result<Vec<Node>> {
                self.list_nodes_impl().await
            }
            async fn touch_node(&self, id: &str, now_ms: i64, info: Option<&NodeFacts>) -> Result<()> {
                self.touch_node_impl(id, now_ms, info).await
            }
            async fn deregister_node(&self, id: &str, now_ms: i64) -> Result<Vec<String>> {
                self.deregister_node_impl(id, now_ms).await
            }
            async fn add_tags(&self, rtype: &str, rid: &str, tags: &[(String, String)]) -> Result<()> {
                self.add_tags_impl(rtype, rid, tags).await
            }
            async fn remove_tags(&self, rtype: &str, rid: &str, keys: &[String]) -> Result<()> {
                self.remove_tags_impl(rtype, rid, keys).await
            }
            async fn list_tags(&self, rtype: &str, rid: &str) -> Result<Vec<(String, String)>> {
                self.list_tags_impl(rtype, rid).await
            }
            async fn create_document(&self, d: &NewDocument) -> Result<DocumentVersion> {
                self.create_document_impl(d).await
            }
            async fn add_document_version(&self, name: &str, v: &NewDocumentVersion) -> Result<DocumentVersion> {
                self.add_document_version_impl(name, v).await
            }
            async fn upsert_builtin_document(&self, d: &NewDocument) -> Result<()> {
                self.upsert_builtin_document_impl(d).await
            }
            async fn get_document(&self, name: &str, sel: VersionSelector<'_>) -> Result<Option<DocumentVersion>> {
                self.get_document_impl(name, sel).await
            }
            async fn list_documents(&self) -> Result<Vec<DocumentVersion>> {
                self.list_documents_impl().await
            }
            async fn list_document_versions(&self, name: &str) -> Result<Vec<DocumentVersion>> {
                self.list_document_versions_impl(name).await
            }
            async fn set_default_version(&self, name: &str, version: i64) -> Result<DocumentVersion> {
                self.set_default_version_impl(name, version).await
            }
            async fn delete_document(&self, name: &str, version: Option<i64>) -> Result<()> {
                self.delete_document_impl(name, version).await
            }
            async fn create_command(&self, c: &NewCommand) -> Result<()> {
                self.create_command_impl(c).await
            }
            async fn get_command(&self, id: &str) -> Result<Option<Command>> {
                self.get_command_impl(id).await
            }
            async fn list_commands(&self, f: &CommandFilter) -> Result<Vec<Command>> {
                self.list_commands_impl(f).await
            }
            async fn list_invocations(&self, f: &InvocationFilter) -> Result<Vec<Invocation>> {
                self.list_invocations_impl(f).await
            }
            async fn get_invocation(&self, command_id: &str, instance_id: &str) -> Result<Option<Invocation>> {
                self.get_invocation_impl(command_id, instance_id).await
            }
            async fn list_plugins(&self, command_id: &str, instance_id: &str) -> Result<Vec<Plugin>> {
                self.list_plugins_impl(command_id, instance_id).await
            }
            async fn settle(&self, command_id: &str, now_ms: i64) -> Result<Settled> {
                self.settle_impl(command_id, now_ms).await
            }
            async fn claim(&self, instance_id: &str, now_ms: i64, limit: u32) -> Result<Vec<Claimed>> {
                self.claim_impl(instance_id, now_ms, limit).await
            }
            async fn finish(&self, r: &FinishedInvocation) -> Result<Option<Settled>> {
                self.finish_impl(r).await
            }
            async fn cancel(&self, command_id: &str, ids: Option<&[String]>, now_ms: i64) -> Result<Vec<String>> {
                self.cancel_impl(command_id, ids, now_ms).await
            }
            async fn cancels_for(&self, instance_id: &str) -> Result<Vec<String>> {
                self.cancels_for_impl(instance_id).await
            }
            async fn expire_deliveries(&self, now_ms: i64) -> Result<Vec<String>> {
                self.expire_deliveries_impl(now_ms).await
            }
            async fn next_delivery_deadline(&self) -> Result<Option<i64>> {
                self.next_delivery_deadline_impl().await
            }
            async fn abandon_silent(&self, now_ms: i64, silent_since_ms: i64) -> Result<Vec<String>> {
                self.abandon_silent_impl(now_ms, silent_since_ms).await
            }
            async fn expiry_outlook(&self, now_ms: i64) -> Result<ExpiryOutlook> {
                self.expiry_outlook_impl(now_ms).await
            }
            async fn commands_with_pending(&self) -> Result<Vec<String>> {
                self.commands_with_pending_impl().await
            }
            async fn acquire_lease(&self, name: &str, holder: &str, ttl_ms: i64) -> Result<bool> {
                self.acquire_lease_impl(name, holder, ttl_ms).await
            }
            async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
                self.release_lease_impl(name, holder).await
            }
            async fn finished_before(&self, before_ms: i64, limit: u32) -> Result<Vec<String>> {
                self.finished_before_impl(before_ms, limit).await
            }
            async fn delete_commands(&self, ids: &[String]) -> Result<Vec<String>> {
                self.delete_commands_impl(ids).await
            }
            async fn put_parameter(&self, p: &NewParameter, overwrite: bool, latest: i64) -> Result<ParameterVersion> {
                self.put_parameter_impl(p, overwrite, latest).await
            }
            async fn get_parameter(&self, name: &str, sel: ParamSelector<'_>) -> Result<Option<ParameterVersion>> {
                self.get_parameter_impl(name, sel).await
            }
            async fn list_parameters(&self, q: &ParameterQuery) -> Result<Vec<ParameterVersion>> {
                self.list_parameters_impl(q).await
            }
            async fn parameter_history(&self, name: &str) -> Result<Vec<ParameterVersion>> {
                self.parameter_history_impl(name).await
            }
            async fn label_parameter_version(
                &self,
                name: &str,
                version: Option<i64>,
                labels: &[String],
                now_ms: i64,
            ) -> Result<i64> {
                self.label_parameter_version_impl(name, version, labels, now_ms).await
            }
            async fn delete_parameters(&self, names: &[String]) -> Result<Vec<String>> {
                self.delete_parameters_impl(names).await
            }
            async fn sealed_values(&self, after: Option<(&str, i64)>, n: u32) -> Result<Vec<(String, i64, Vec<u8>)>> {
                self.sealed_values_impl(after, n).await
            }
            async fn replace_sealed(&self, name: &str, version: i64, old: &[u8], new: &[u8]) -> Result<bool> {
                self.replace_sealed_impl(name, version, old, new).await
            }
            async fn master_key_checks(&self) -> Result<Vec<(String, u32, Vec<u8>)>> {
                self.master_key_checks_impl().await
            }
            async fn put_master_key_check(&self, name: &str, version: u32, check: &[u8]) -> Result<bool> {
                self.put_master_key_check_impl(name, version, check).await
            }
            async fn delete_master_key_check(&self, name: &str, version: u32) -> Result<()> {
                self.delete_master_key_check_impl(name, version).await
            }
            async fn create_automation_execution(&self, e: &NewAutomationExecution) -> Result<AutomationExecution> {
                self.create_automation_execution_impl(e).await
            }
            async fn get_automation_execution(&self, id: &str) -> Result<Option<AutomationExecution>> {
                self.get_automation_execution_impl(id).await
            }
            async fn list_automation_executions(&self, f: &AutomationFilter) -> Result<Vec<AutomationExecution>> {
                self.list_automation_executions_impl(f).await
            }
            async fn update_automation_execution(&self, u: &AutomationUpdate) -> Result<AutomationExecution> {
                self.update_automation_execution_impl(u).await
            }
            async fn request_stop(&self, id: &str, kind: &str) -> Result<AutomationExecution> {
                self.request_stop_impl(id, kind).await
            }
            async fn put_step_execution(&self, step: &StepExecution) -> Result<()> {
                self.put_step_execution_impl(step).await
            }
            async fn list_step_executions(&self, id: &str) -> Result<Vec<StepExecution>> {
                self.list_step_executions_impl(id).await
            }
            async fn claim_automation_executions(
                &self,
                owner: &str,
                now_ms: i64,
                lease_ms: i64,
                limit: u32,
            ) -> Result<Vec<AutomationExecution>> {
                self.claim_automation_executions_impl(owner, now_ms, lease_ms, limit).await
            }
            async fn renew_automation_lease(&self, id: &str, owner: &str, now_ms: i64, lease_ms: i64) -> Result<bool> {
                self.renew_automation_lease_impl(id, owner, now_ms, lease_ms).await
            }
            async fn release_automation_lease(&self, id: &str, owner: &str) -> Result<()> {
                self.release_automation_lease_impl(id, owner).await
            }
            async fn purge_automation_executions(&self, before_ms: i64, limit: u32) -> Result<Vec<String>> {
                self.purge_automation_executions_impl(before_ms, limit).await
            }
            $($extra)*
        }
    };
}

pub(crate) use impl_store;
