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

{{/*
Kinds guarded by pattern (webhook.guardedKindPatterns) that no adapter names, as one CEL
expression over request.resource and request.kind (empty when there are none): what the
machinekinds webhook keeps of the groups it receives whole. Groups in wholeGroups are left out
(the resources webhook receives them whole).
*/}}
{{- define "exportgate.celMachineKinds" -}}
{{- $v := .Values.webhook -}}
{{- $terms := list -}}
{{- range $group := keys ($v.guardedKindPatterns | default dict) | sortAlpha -}}
{{- if not (has $group $v.wholeGroups) -}}
{{- $named := list -}}
{{- range $plural := index $v.guardedResources $group | default list -}}
{{- $named = append $named (printf "'%s'" $plural) -}}
{{- end -}}
{{- $matches := list -}}
{{- range $pattern := index $v.guardedKindPatterns $group -}}
{{- $matches = append $matches (printf "request.kind.kind.matches(%s)" (include "exportgate.celString" $pattern)) -}}
{{- end -}}
{{- $terms = append $terms (printf "(request.resource.group == '%s' && !(request.resource.resource in [%s]) && (%s))" $group (join ", " $named) (join " || " $matches)) -}}
{{- end -}}
{{- end -}}
{{- join " || " $terms -}}
{{- end -}}

{{/*
API groups the catch-all webhook (webhook.catchAll) never sends, whatever excludeGroups says.
Each line says why; docs/helm.md ("The catch-all webhook") lists them for operators.
*/}}
{{- define "exportgate.catchAllSkippedGroups" -}}
{{- toJson (list
  ""
  "apps"
  "batch"
  "exportgate.dev"
  "wgpolicyk8s.io"
  "kopf.dev"
  "resource.k8s.io"
  "events.k8s.io"
  "coordination.k8s.io"
  "discovery.k8s.io"
  "metrics.k8s.io"
  "custom.metrics.k8s.io"
  "external.metrics.k8s.io"
  "authorization.k8s.io"
  "authentication.k8s.io"
  "certificates.k8s.io"
  "autoscaling"
  "policy"
  "networking.k8s.io"
  "rbac.authorization.k8s.io"
  "storage.k8s.io"
) -}}
{{- /*
  "" (core), apps, batch: their kinds that run something or hand out devices (Pods and their
      ephemeral containers, status and Bindings, ReplicationControllers, PodTemplates,
      Namespaces, Deployments ... CronJobs) reach the workloads, resources, tenancy and
      podstatus webhooks; the rest (ConfigMaps, Secrets, Services, Endpoints, Events,
      ControllerRevisions) hold nothing runnable, and some are written constantly.
  exportgate.dev, wgpolicyk8s.io, kopf.dev: exportgate's own records (Tenants, ExportPolicies
      and ModelEndpoints reach the resources webhook); the operator writes ComputeRuns and
      PolicyReports into tenant namespaces, which must not wait on the webhook.
  resource.k8s.io: DRA; its namespaced kinds that hand out devices (ResourceClaims,
      ResourceClaimTemplates) are named in guardedResources, and the scheduler writes the
      others (PodSchedulingContexts on DRA alpha clusters) at high rate.
  events.k8s.io, coordination.k8s.io (Leases), discovery.k8s.io (EndpointSlices): written by
      controllers and kubelets constantly (Kyverno's default resourceFilters skip Events too).
  metrics, authorization, authentication, certificates: read-only or review-only APIs, or
      certificate requests; nothing that runs.
  autoscaling, policy, networking.k8s.io, rbac.authorization.k8s.io, storage.k8s.io: built-in
      schemas that hold no container, resource request or model (HPAs, PDBs, Ingresses and
      NetworkPolicies, Roles, CSIStorageCapacities): the API server rejects anything else.
*/ -}}
{{- end -}}

{{/*
The catch-all's condition: the request is not one another exportgate webhook receives and is in
no group or resource the catch-all skips. Each object is then reviewed once. `.Values` is the
chart's. Terms, all negated and ANDed:
  * a skipped group: catchAllSkippedGroups, wholeGroups (sent whole to the resources webhook),
    catchAll.excludeGroups ("*.suffix" entries match by suffix);
  * a kind the resources webhook names (guardedResources, as "group/resource"), or an excluded
    one (catchAll.excludeResources);
  * a kind the machinekinds webhook keeps (celMachineKinds);
  * what an extraRules entry sends (its groups, resources and operations; "*" matches all).
*/}}
{{- define "exportgate.celCatchAll" -}}
{{- $v := .Values.webhook -}}
{{- if or (kindIs "invalid" $v.catchAll.excludeGroups) (kindIs "invalid" $v.catchAll.excludeResources) -}}
{{- fail "webhook.catchAll.excludeGroups and excludeResources must be set (helm upgrade --reuse-values keeps a release's old values, which have no defaults for them): upgrade with your values file instead, or set both lists" -}}
{{- end -}}
{{- $groups := concat (include "exportgate.catchAllSkippedGroups" . | fromJsonArray) $v.wholeGroups -}}
{{- $suffixes := list -}}
{{- range $v.catchAll.excludeGroups -}}
{{- if hasPrefix "*." . -}}
{{- $suffixes = append $suffixes (trimPrefix "*" .) -}}
{{- else -}}
{{- $groups = append $groups . -}}
{{- end -}}
{{- end -}}
{{- $resources := list -}}
{{- range $group := keys $v.guardedResources | sortAlpha -}}
{{- range $plural := index $v.guardedResources $group -}}
{{- $resources = append $resources (printf "%s/%s" $group $plural) -}}
{{- end -}}
{{- end -}}
{{- $resources = concat $resources $v.catchAll.excludeResources -}}
{{- $terms := list (printf "request.resource.group in %s" (include "exportgate.celStrings" ($groups | uniq))) -}}
{{- if $suffixes -}}
{{- $terms = append $terms (printf "%s.exists(s, request.resource.group.endsWith(s))" (include "exportgate.celStrings" $suffixes)) -}}
{{- end -}}
{{- $terms = append $terms (printf "request.resource.group + '/' + request.resource.resource in %s" (include "exportgate.celStrings" ($resources | uniq))) -}}
{{- $machines := include "exportgate.celMachineKinds" . -}}
{{- if $machines -}}
{{- $terms = append $terms (printf "(%s)" $machines) -}}
{{- end -}}
{{- range $rule := $v.extraRules -}}
{{- $term := include "exportgate.celRuleSends" $rule -}}
{{- if $term -}}
{{- $terms = append $terms $term -}}
{{- end -}}
{{- end -}}
!({{ join " || " $terms }})
{{- end -}}

{{/*
Whether an admission rule (a webhook.extraRules entry) sends a namespaced main-resource request,
as a CEL term over request.resource and request.operation; empty for a rule that sends none
(cluster-scoped only, or subresources only). apiVersions are not compared: with matchPolicy
Equivalent a rule receives its kinds in every version.
*/}}
{{- define "exportgate.celRuleSends" -}}
{{- $groups := .apiGroups | default list -}}
{{- $resources := .resources | default list -}}
{{- $operations := .operations | default list -}}
{{- $main := list -}}
{{- $all := false -}}
{{- range $resources -}}
{{- if or (eq . "*") (eq . "*/*") -}}
{{- $all = true -}}
{{- else if not (contains "/" .) -}}
{{- $main = append $main . -}}
{{- end -}}
{{- end -}}
{{- if and (ne (.scope | default "*") "Cluster") $groups (or $all $main) $operations -}}
{{- $parts := list -}}
{{- if not (has "*" $groups) -}}
{{- $parts = append $parts (printf "request.resource.group in %s" (include "exportgate.celStrings" $groups)) -}}
{{- end -}}
{{- if not $all -}}
{{- $parts = append $parts (printf "request.resource.resource in %s" (include "exportgate.celStrings" $main)) -}}
{{- end -}}
{{- if not (has "*" $operations) -}}
{{- $parts = append $parts (printf "request.operation in %s" (include "exportgate.celStrings" $operations)) -}}
{{- end -}}
({{ if $parts }}{{ join " && " $parts }}{{ else }}true{{ end }})
{{- end -}}
{{- end -}}
