{{/*
CEL pre-filter of the workload webhooks (matchConditions). It may only skip requests that
certainly need no decision, because a skipped request is admitted unseen: when in doubt, send.

A pod spec is sent when any container or init container requests a known accelerator resource,
any resource that is neither Kubernetes' own nor listed as no accelerator (the extractor reads
every other extended resource as an unknown accelerator) or a DRA claim, names a model
(`exportgate.celContainerModel`), reaches devices without a resource request (a runtime device
variable such as NVIDIA_VISIBLE_DEVICES, a privileged container, a hostPath volume, an ephemeral
container), or the spec pins nodes (nodeSelector beyond os/arch, node affinity, a runtime class,
resource claims), or the pod (a Pod's or a pod template's metadata) carries an annotation that
hands it a device (`exportgate.celDeviceAnnotations`): all ways a pod ends up on an accelerator
or serving a model. The resource patterns, device variables and annotations and the model
vocabulary are generated from the extraction vocabulary and models.yaml
(charts/tools/sync_kinds.py).
*/}}
{{- define "exportgate.celContainer" -}}
{{ include "exportgate.celContainerExpands" .c }} ||
{{- $re := .re -}}
{{- $harmless := .harmless -}}
{{- $c := .c -}}
((has({{ $c }}.resources) && ((has({{ $c }}.resources.limits) && {{ $c }}.resources.limits.exists(r, r.matches('{{ $re }}') || !r.matches('{{ $harmless }}'))) || (has({{ $c }}.resources.requests) && {{ $c }}.resources.requests.exists(r, r.matches('{{ $re }}') || !r.matches('{{ $harmless }}'))) || has({{ $c }}.resources.claims))) || {{ include "exportgate.celContainerModel" (dict "c" $c "m" .m) }} || (has({{ $c }}.env) && {{ $c }}.env.exists(e, e.name in {{ .env }})) || (has({{ $c }}.securityContext) && has({{ $c }}.securityContext.privileged) && {{ $c }}.securityContext.privileged))
{{- end -}}

{{/*
A container in which the model reader (exportgate/core/extract/models.py) may find a model: a
NIM image, a postStart hook (always read), a command or args list naming a model flag or a
program whose model is positional (`exportgate.celModelLine`), or envFrom on a container that
is recognisably a model server or client (its image, its program, a ConfigMap or Secret named
after a hosted vendor): the reader reports that model as set at run time. Variables the reader
reads by name are in `.env` (webhook.matchConditions.modelEnv). Every list is generated from
models.yaml, so the filter follows the reader.
*/}}
{{- define "exportgate.celContainerModel" -}}
{{- $c := .c -}}
{{- $m := .m -}}
((has({{ $c }}.image) && {{ $c }}.image.contains('/nim/')) || (has({{ $c }}.lifecycle) && has({{ $c }}.lifecycle.postStart)) || (has({{ $c }}.args) && {{ include "exportgate.celModelLine" (dict "l" (printf "%s.args" $c) "m" $m) }}) || (has({{ $c }}.command) && {{ include "exportgate.celModelLine" (dict "l" (printf "%s.command" $c) "m" $m) }}) || (has({{ $c }}.envFrom) && ({{ if $m.images }}(has({{ $c }}.image) && {{ $c }}.image.matches({{ $m.images }})) || {{ end }}(has({{ $c }}.args) && {{ $c }}.args.exists(a, [{{ include "exportgate.celNormalised" "a" }}].exists(s, {{ $m.programs }}.exists(w, s.contains(w))))) || (has({{ $c }}.command) && {{ $c }}.command.exists(a, [{{ include "exportgate.celNormalised" "a" }}].exists(s, {{ $m.programs }}.exists(w, s.contains(w))))) || {{ $c }}.envFrom.exists(f, (has(f.configMapRef) && has(f.configMapRef.name) && {{ $m.envFromNames }}.exists(n, f.configMapRef.name.lowerAscii().contains(n))) || (has(f.secretRef) && has(f.secretRef.name) && {{ $m.envFromNames }}.exists(n, f.secretRef.name.lowerAscii().contains(n)))))))
{{- end -}}

{{/*
One command or args list naming a model. Each element is compared as the reader's tokens would
read it: with quotes and backslashes removed, because an element holding a whole shell line is
split like a shell (`v''llm serve M` and `h\f download M` run vllm and hf). Long words are
substrings (modelWords); short flags and programs (modelTokens) must be whole tokens; a path flag
(modelPathFlags, llama.cpp's -m) counts only when the list also holds a path or a .gguf file, the
only values the reader reads there. Each element is normalised once (the list is mapped, then
bound with `[...].exists(n, ...)`), and each regular expression runs only after a plain substring
test found its word: CEL charges a match by the pattern's length times the text's.
*/}}
{{- define "exportgate.celModelLine" -}}
{{- $m := .m -}}
[{{ .l }}.map(a, {{ include "exportgate.celNormalised" "a" }})].exists(n, n.exists(s, {{ $m.words }}.exists(w, s.contains(w)){{ if $m.tokens }} || ({{ $m.tokenWords }}.exists(w, s.contains(w)) && s.matches({{ $m.tokens }})){{ end }}){{ if $m.pathFlags }} || (n.exists(s, {{ $m.pathFlagWords }}.exists(w, s.contains(w)) && s.matches({{ $m.pathFlags }})) && n.exists(s, s.contains('/') || s.contains('.gguf'))){{ end }})
{{- end -}}

{{/* A command or args element as compared with the model vocabulary (see celModelLine). */}}
{{- define "exportgate.celNormalised" -}}
{{ . }}.replace('\'', '').replace('"', '').replace('\\', '')
{{- end -}}

{{/* A CEL string literal. */}}
{{- define "exportgate.celString" -}}
'{{ . | replace "\\" "\\\\" | replace "'" "\\'" }}'
{{- end -}}

{{/* A CEL list of string literals. */}}
{{- define "exportgate.celStrings" -}}
{{- $items := list -}}
{{- range . -}}
{{- $items = append $items (include "exportgate.celString" .) -}}
{{- end -}}
[{{ join ", " $items }}]
{{- end -}}

{{/*
An RE2 pattern matching any of `.` (words) as a whole token of a command-line element:
after whitespace (any character outside printable ASCII: the reader also splits on Unicode
whitespace), the start, or a "/" (the reader compares a program's file name); before whitespace,
the end, or an "=" (`-hf=org/model`). Empty when there are no words.
*/}}
{{- define "exportgate.celTokenPattern" -}}
{{- if . -}}
{{- $words := list -}}
{{- range . -}}
{{- $words = append $words (regexQuoteMeta .) -}}
{{- end -}}
{{ include "exportgate.celString" (printf "(^|[^!-~]|/)(%s)([^!-~]|=|$)" (join "|" $words)) }}
{{- end -}}
{{- end -}}

{{- define "exportgate.celPodSpec" -}}
{{- $ps := .ps -}}
({{ include "exportgate.celCommandLineChars" (printf "%s.containers" $ps) }} + (has({{ $ps }}.initContainers) ? {{ include "exportgate.celCommandLineChars" (printf "%s.initContainers" $ps) }} : 0) > {{ .commandLineChars }} || {{ $ps }}.containers.exists(c, {{ include "exportgate.celContainer" (dict "c" "c" "re" .re "harmless" .harmless "env" .env "m" .m) }}) || (has({{ $ps }}.initContainers) && {{ $ps }}.initContainers.exists(c, {{ include "exportgate.celContainer" (dict "c" "c" "re" .re "harmless" .harmless "env" .env "m" .m) }})) || has({{ $ps }}.ephemeralContainers) || (has({{ $ps }}.volumes) && {{ $ps }}.volumes.exists(v, has(v.hostPath))) || has({{ $ps }}.resourceClaims) || has({{ $ps }}.runtimeClassName) || (has({{ $ps }}.affinity) && has({{ $ps }}.affinity.nodeAffinity)) || (has({{ $ps }}.nodeSelector) && {{ $ps }}.nodeSelector.exists(k, k != 'kubernetes.io/os' && k != 'kubernetes.io/arch')))
{{- end -}}

{{/*
The characters in the command and args of a list of containers. CEL charges every string
operation by its length and an evaluation over its cost limit is an error, which fails the
request closed: a pod whose command lines together pass `commandLineChars` is sent without
reading them (the webhook decides it), so an ordinary pod with a long inline script is never
refused by the filter itself.
*/}}
{{- define "exportgate.celCommandLineChars" -}}
{{ . }}.map(c, (has(c.command) ? c.command.map(a, size(a)).sum() : 0) + (has(c.args) ? c.args.map(a, size(a)).sum() : 0)).sum()
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

{{/*
Pod metadata (`.md`) carrying an annotation that hands the pod a device without a resource
request: a key of `.keys` (KAI Scheduler's gpu-fraction ...) or one starting with a prefix of
`.prefixes` (CDI's cdi.k8s.io/). The reader (exportgate/core/extract/device_annotations.py)
reads the same lists, generated from the vocabulary.
*/}}
{{- define "exportgate.celDeviceAnnotations" -}}
(has({{ .md }}.annotations) && {{ .md }}.annotations.exists(k, k in {{ .keys }} || {{ .prefixes }}.exists(p, k.startsWith(p))))
{{- end -}}

{{/* Objects carrying exportgate.dev labels or annotations: tenant bindings and stamps. */}}
{{- define "exportgate.celMarked" -}}
((has({{ . }}.metadata.labels) && {{ . }}.metadata.labels.exists(k, k.startsWith('exportgate.dev/'))) || (has({{ . }}.metadata.annotations) && {{ . }}.metadata.annotations.exists(k, k.startsWith('exportgate.dev/'))))
{{- end -}}

{{- define "exportgate.celWorkloads" -}}
{{- $mc := .Values.webhook.matchConditions -}}
{{- $re := printf "(%s)" (join ")|(" $mc.acceleratorResourcePatterns) | replace "\\" "\\\\" | replace "'" "\\'" -}}
{{- $harmless := printf "(%s)" (join ")|(" $mc.nonAcceleratorResourcePatterns) | replace "\\" "\\\\" | replace "'" "\\'" -}}
{{- /* Device variables and the variables the model reader reads by name: a container setting one is sent. */ -}}
{{- $env := include "exportgate.celStrings" (concat $mc.deviceAccessEnv $mc.modelEnv) -}}
{{- /* 64 Ki characters of command lines cost well under the API server's per-expression CEL limit (tests/charts/test_install.py). */ -}}
{{- $chars := 65536 -}}
{{- $images := "" -}}
{{- if $mc.modelServerImages -}}
{{- $images = include "exportgate.celString" (printf "(?i)(%s)" (join ")|(" $mc.modelServerImages)) -}}
{{- end -}}
{{- $ann := dict "keys" (include "exportgate.celStrings" $mc.deviceAccessAnnotations) "prefixes" (include "exportgate.celStrings" $mc.deviceAccessAnnotationPrefixes) -}}
{{- $m := dict "words" (include "exportgate.celStrings" $mc.modelWords) "tokens" (include "exportgate.celTokenPattern" $mc.modelTokens) "tokenWords" (include "exportgate.celStrings" $mc.modelTokens) "pathFlags" (include "exportgate.celTokenPattern" $mc.modelPathFlags) "pathFlagWords" (include "exportgate.celStrings" $mc.modelPathFlags) "images" $images "programs" (include "exportgate.celStrings" $mc.modelServerPrograms) "envFromNames" (include "exportgate.celStrings" $mc.modelEnvFromNames) -}}
{{ include "exportgate.celMarked" "object" }} || (oldObject != null && {{ include "exportgate.celMarked" "oldObject" }}) || (request.kind.kind == 'Pod' ? ({{ include "exportgate.celDeviceAnnotations" (merge (dict "md" "object.metadata") $ann) }} || {{ include "exportgate.celPodSpec" (dict "ps" "object.spec" "commandLineChars" $chars "re" $re "harmless" $harmless "env" $env "m" $m) }}) : request.kind.kind == 'CronJob' ? (has(object.spec.jobTemplate.spec) && has(object.spec.jobTemplate.spec.template) && ((has(object.spec.jobTemplate.spec.template.metadata) && {{ include "exportgate.celDeviceAnnotations" (merge (dict "md" "object.spec.jobTemplate.spec.template.metadata") $ann) }}) || (has(object.spec.jobTemplate.spec.template.spec) && {{ include "exportgate.celPodSpec" (dict "ps" "object.spec.jobTemplate.spec.template.spec" "commandLineChars" $chars "re" $re "harmless" $harmless "env" $env "m" $m) }}))) : (has(object.spec) && has(object.spec.template) && ((has(object.spec.template.metadata) && {{ include "exportgate.celDeviceAnnotations" (merge (dict "md" "object.spec.template.metadata") $ann) }}) || (has(object.spec.template.spec) && {{ include "exportgate.celPodSpec" (dict "ps" "object.spec.template.spec" "commandLineChars" $chars "re" $re "harmless" $harmless "env" $env "m" $m) }}))))
{{- end -}}

{{/*
A pod annotation key exportgate reads (`k`): one under exportgate.dev/ (stamps, the operator's
violation mark) or one that hands the pod a device (`.keys`, `.prefixes`, as in
celDeviceAnnotations). The webhook's rule is the same (webhook/exportgate_webhook/podstatus.py).
*/}}
{{- define "exportgate.celGuardedAnnotation" -}}
(k.startsWith('exportgate.dev/') || k in {{ .keys }} || {{ .prefixes }}.exists(p, k.startsWith(p)))
{{- end -}}

{{/*
pods/status writes that add, alter or remove a guarded annotation (celGuardedAnnotation). The
status strategy stores a Pod's annotations as sent, unseen by the Pod's admission; every other
status write (the kubelet's, constantly) is not sent.
*/}}
{{- define "exportgate.celPodStatusGuarded" -}}
{{- $guarded := include "exportgate.celGuardedAnnotation" . -}}
(has(object.metadata.annotations) && object.metadata.annotations.exists(k, {{ $guarded }} && !(has(oldObject.metadata.annotations) && k in oldObject.metadata.annotations && oldObject.metadata.annotations[k] == object.metadata.annotations[k]))) || (has(oldObject.metadata.annotations) && oldObject.metadata.annotations.exists(k, {{ $guarded }} && !(has(object.metadata.annotations) && k in object.metadata.annotations)))
{{- end -}}

{{/*
Bindings (pods/binding, and the legacy bindings resource) that carry a guarded annotation
(celGuardedAnnotation): the API server merges a Binding's annotations into its Pod
(BindingREST.setPodHostAndAnnotations), unseen by the Pod's admission. kube-scheduler's
Bindings carry no annotations, so they are never sent. A CREATE has no oldObject: this
condition reads the Binding only.
*/}}
{{- define "exportgate.celBindingGuarded" -}}
has(object.metadata.annotations) && object.metadata.annotations.exists(k, {{ include "exportgate.celGuardedAnnotation" . }})
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
