{{/*
CEL pre-filter of the workload webhooks (matchConditions). It may only skip requests that
certainly need no decision, because a skipped request is admitted unseen: when in doubt, send.

A pod spec is sent when any container or init container requests a known accelerator resource,
any resource that is neither Kubernetes' own nor listed as no accelerator (the extractor reads
every other extended resource as an unknown accelerator) or a DRA claim, names a model (a
model/vllm/ollama flag or command, a postStart hook, a MODEL_ID-style, Azure deployment or CLAUDE_CODE_USE_* variable: the names in models.yaml
`environment`; a NIM image), reaches devices without a resource request (a runtime device
variable such as NVIDIA_VISIBLE_DEVICES, a privileged container, a hostPath volume, an ephemeral
container), or the spec pins nodes (nodeSelector beyond os/arch, node affinity, a runtime class,
resource claims): all ways a pod ends up on an accelerator or serving a model. The resource
patterns and device variables are generated from the vocabulary (charts/tools/sync_kinds.py).
*/}}
{{- define "exportgate.celContainer" -}}
{{ include "exportgate.celContainerExpands" .c }} ||
{{- $re := .re -}}
{{- $harmless := .harmless -}}
{{- $c := .c -}}
((has({{ $c }}.resources) && ((has({{ $c }}.resources.limits) && {{ $c }}.resources.limits.exists(r, r.matches('{{ $re }}') || !r.matches('{{ $harmless }}'))) || (has({{ $c }}.resources.requests) && {{ $c }}.resources.requests.exists(r, r.matches('{{ $re }}') || !r.matches('{{ $harmless }}'))) || has({{ $c }}.resources.claims))) || (has({{ $c }}.image) && {{ $c }}.image.contains('/nim/')) || (has({{ $c }}.args) && {{ $c }}.args.exists(a, a.lowerAscii().contains('model') || a.lowerAscii().contains('vllm') || a.lowerAscii().contains('ollama'))) || (has({{ $c }}.command) && {{ $c }}.command.exists(a, a.lowerAscii().contains('model') || a.lowerAscii().contains('vllm') || a.lowerAscii().contains('ollama'))) || (has({{ $c }}.lifecycle) && has({{ $c }}.lifecycle.postStart)) || (has({{ $c }}.env) && {{ $c }}.env.exists(e, e.name.upperAscii().contains('MODEL') || e.name.upperAscii().contains('DEPLOYMENT') || e.name.startsWith('CLAUDE_CODE_USE_') || e.name == 'STORAGE_URI' || e.name in {{ .env }})) || (has({{ $c }}.securityContext) && has({{ $c }}.securityContext.privileged) && {{ $c }}.securityContext.privileged))
{{- end -}}

{{- define "exportgate.celPodSpec" -}}
{{- $ps := .ps -}}
({{ $ps }}.containers.exists(c, {{ include "exportgate.celContainer" (dict "c" "c" "re" .re "harmless" .harmless "env" .env) }}) || (has({{ $ps }}.initContainers) && {{ $ps }}.initContainers.exists(c, {{ include "exportgate.celContainer" (dict "c" "c" "re" .re "harmless" .harmless "env" .env) }})) || has({{ $ps }}.ephemeralContainers) || (has({{ $ps }}.volumes) && {{ $ps }}.volumes.exists(v, has(v.hostPath))) || has({{ $ps }}.resourceClaims) || has({{ $ps }}.runtimeClassName) || (has({{ $ps }}.affinity) && has({{ $ps }}.affinity.nodeAffinity)) || (has({{ $ps }}.nodeSelector) && {{ $ps }}.nodeSelector.exists(k, k != 'kubernetes.io/os' && k != 'kubernetes.io/arch')))
{{- end -}}

{{/*
A container whose command line the model reader sees only after expansion. It expands $(VAR) in
command and args (as the kubelet does) and, in an argument holding a whole shell line, $VAR and
${VAR} (as `sh -c` does), from the container's env, before it looks for model flags and
programs: `args: ["$(FLAG)", "claude-sonnet-4"]` with FLAG=--model, or `sh -c "run $F"` with
F=--model=claude-sonnet-4, names a model no literal check above sees (red team 3, F3). So a
container with env whose command or args hold a "$" is sent. Nothing else needs the env values:
without a "$" nothing expands and the literal checks hold, variables are read by name (the env
checks above), and a postStart hook is always sent. Without env a reference stays as written.
*/}}
{{- define "exportgate.celContainerExpands" -}}
(has({{ . }}.env) && ((has({{ . }}.command) && {{ . }}.command.exists(a, a.contains('$'))) || (has({{ . }}.args) && {{ . }}.args.exists(a, a.contains('$')))))
{{- end -}}

{{/* Objects carrying exportgate.dev labels or annotations: tenant bindings and stamps. */}}
{{- define "exportgate.celMarked" -}}
((has({{ . }}.metadata.labels) && {{ . }}.metadata.labels.exists(k, k.startsWith('exportgate.dev/'))) || (has({{ . }}.metadata.annotations) && {{ . }}.metadata.annotations.exists(k, k.startsWith('exportgate.dev/'))))
{{- end -}}

{{- define "exportgate.celWorkloads" -}}
{{- $re := printf "(%s)" (join ")|(" .Values.webhook.matchConditions.acceleratorResourcePatterns) | replace "\\" "\\\\" | replace "'" "\\'" -}}
{{- $harmless := printf "(%s)" (join ")|(" .Values.webhook.matchConditions.nonAcceleratorResourcePatterns) | replace "\\" "\\\\" | replace "'" "\\'" -}}
{{- $names := list -}}
{{- range $name := .Values.webhook.matchConditions.deviceAccessEnv -}}
{{- $names = append $names (printf "'%s'" $name) -}}
{{- end -}}
{{- $env := printf "[%s]" (join ", " $names) -}}
{{ include "exportgate.celMarked" "object" }} || (oldObject != null && {{ include "exportgate.celMarked" "oldObject" }}) || (request.kind.kind == 'Pod' ? {{ include "exportgate.celPodSpec" (dict "ps" "object.spec" "re" $re "harmless" $harmless "env" $env) }} : request.kind.kind == 'CronJob' ? (has(object.spec.jobTemplate.spec) && has(object.spec.jobTemplate.spec.template) && has(object.spec.jobTemplate.spec.template.spec) && {{ include "exportgate.celPodSpec" (dict "ps" "object.spec.jobTemplate.spec.template.spec" "re" $re "harmless" $harmless "env" $env) }}) : (has(object.spec) && has(object.spec.template) && has(object.spec.template.spec) && {{ include "exportgate.celPodSpec" (dict "ps" "object.spec.template.spec" "re" $re "harmless" $harmless "env" $env) }}))
{{- end -}}

{{/* Namespaces: sent when the tenant binding (any exportgate.dev label) is or was there. */}}
{{- define "exportgate.celTenancy" -}}
{{ include "exportgate.celMarked" "object" }} || (oldObject != null && {{ include "exportgate.celMarked" "oldObject" }})
{{- end -}}

{{/*
The operator annotates violating workloads (exportgate.dev/violation) and never changes their
spec. Without this condition its patch of an already-violating object would be evaluated and
denied like a tenant's change, so the re-audit could never mark what it found. Only the
operator's own identity, only updates, and only when the spec is unchanged are skipped.
*/}}
{{- define "exportgate.celNotOperatorMetadataUpdate" -}}
!(request.operation == 'UPDATE' && request.userInfo.username == '{{ include "exportgate.operatorUser" . }}' && has(object.spec) && has(oldObject.spec) && object.spec == oldObject.spec)
{{- end -}}
