# Runs one aws:executeScript PowerShell script for fleetrun and records what it returned.
#
# This file is static: fleetrun-script compiles it in and copies it into each run's private
# directory; it is never generated or edited per run. Every input arrives on the command line as a
# path, never as code:
#
#   pwsh -NoProfile -NonInteractive -ExecutionPolicy Bypass -File wrapper.ps1 SCRIPT_PS1 EVENTS_JSON RESULT_JSON
#
# As in SSM, the script reads the step's InputPayload as JSON text from $env:InputPayload. (It is
# set here rather than by fleetrun-script because Linux limits one environment string passed to
# exec to 128 KiB.) The last object the script returns or emits becomes the payload; earlier
# objects go to the log. The wrapper writes one JSON object to RESULT_JSON:
# {"ok": true, "version": "...", "payload": <payload>} or {"ok": false, "version": "...", "error": "..."}.

param(
    [Parameter(Mandatory = $true)][string] $ScriptPath,
    [Parameter(Mandatory = $true)][string] $EventsPath,
    [Parameter(Mandatory = $true)][string] $ResultPath
)

$version = $PSVersionTable.PSVersion.ToString()
$utf8 = [System.Text.UTF8Encoding]::new($false)

try {
    $env:InputPayload = [System.IO.File]::ReadAllText($EventsPath, $utf8)
    $emitted = @(& $ScriptPath)
    $payload = $null
    if ($emitted.Count -gt 0) {
        $payload = $emitted[-1]
        if ($emitted.Count -gt 1) {
            $emitted[0..($emitted.Count - 2)] | Out-Host
        }
    }
    $payloadJson = ConvertTo-Json -InputObject $payload -Depth 100 -Compress
    if ([string]::IsNullOrEmpty($payloadJson)) {
        $payloadJson = 'null'
    }
    # Both pieces are JSON already; this joins them without parsing the payload again.
    $versionJson = ConvertTo-Json -InputObject $version -Compress
    $result = '{"ok":true,"version":' + $versionJson + ',"payload":' + $payloadJson + '}'
}
catch {
    $message = ($_ | Out-String).Trim()
    if ($_.ScriptStackTrace) {
        $message += "`n" + $_.ScriptStackTrace
    }
    $result = ConvertTo-Json -InputObject ([ordered]@{ ok = $false; version = $version; error = $message }) -Compress
}

[System.IO.File]::WriteAllText($ResultPath, $result, $utf8)
exit 0
