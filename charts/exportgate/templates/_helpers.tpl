{{/* Names: every object is prefixed with the full name, so two releases never collide. */}}
{{- define "exportgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "exportgate.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "exportgate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "exportgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: exportgate
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component: call with (dict "ctx" $ "component" "webhook"). */}}
{{- define "exportgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "exportgate.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "exportgate.componentLabels" -}}
{{ include "exportgate.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "exportgate.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "exportgate.webhookName" -}}{{ include "exportgate.fullname" . }}-webhook{{- end -}}
{{- define "exportgate.operatorName" -}}{{ include "exportgate.fullname" . }}-operator{{- end -}}
{{- define "exportgate.tlsSecret" -}}{{ include "exportgate.fullname" . }}-webhook-tls{{- end -}}
{{- define "exportgate.caSecret" -}}{{ include "exportgate.fullname" . }}-webhook-ca{{- end -}}
{{- define "exportgate.rotatorName" -}}{{ include "exportgate.fullname" . }}-cert-rotator{{- end -}}
{{- define "exportgate.serviceHost" -}}{{ include "exportgate.webhookName" . }}.{{ .Release.Namespace }}.svc{{- end -}}

{{/* The operator's identity: the webhook lets it set tenant labels. */}}
{{- define "exportgate.operatorUser" -}}
system:serviceaccount:{{ .Release.Namespace }}:{{ include "exportgate.operatorName" . }}
{{- end -}}

{{/* Namespaces never sent to the webhook: the control plane, this release, and the list. */}}
{{- define "exportgate.exemptNamespaces" -}}
{{- $list := concat (list "kube-system" .Release.Namespace) .Values.webhook.exemptNamespaces | uniq -}}
{{- toJson $list -}}
{{- end -}}

{{/*
The hardened container security context every exportgate container uses: non-root, read-only
root filesystem, no privilege escalation, no capabilities, the runtime's default seccomp profile.
*/}}
{{- define "exportgate.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "exportgate.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
fsGroup: {{ .Values.securityContext.runAsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Preferred anti-affinity over nodes for one component (ctx, component). */}}
{{- define "exportgate.spreadAffinity" -}}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "exportgate.selectorLabels" . | nindent 12 }}
{{- end -}}

{{/*
Peers allowed to call the webhook port, as a YAML list (empty: any source). Used by the
NetworkPolicy and by NOTES.txt.
*/}}
{{- define "exportgate.webhookPeers" -}}
{{- /* Who may call the webhook port: explicit peers, else the API server's CIDRs, else (at
install time) the addresses behind the `kubernetes` Service, which is where a self-hosted or
VPC-attached control plane calls from. Only when none of these is known (helm template without a
cluster, autodetection off) is the port left open to any source; NOTES.txt then says so. */ -}}
{{- $apiPeers := list -}}
{{- range .Values.networkPolicy.apiServerCIDRs }}
{{- $apiPeers = append $apiPeers (dict "ipBlock" (dict "cidr" .)) -}}
{{- end }}
{{- if and (not $apiPeers) .Values.networkPolicy.apiServerAutodetect }}
{{- $slices := lookup "discovery.k8s.io/v1" "EndpointSlice" "default" "" -}}
{{- range (($slices | default dict).items | default list) }}
{{- if eq (index (.metadata.labels | default dict) "kubernetes.io/service-name") "kubernetes" }}
{{- range .endpoints }}
{{- range .addresses }}
{{- $apiPeers = append $apiPeers (dict "ipBlock" (dict "cidr" (printf "%s/%s" . (ternary "128" "32" (contains ":" .))))) -}}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- toYaml (.Values.networkPolicy.webhookFrom | default $apiPeers) -}}
{{- end }}

{{/*
Where the policy service runs: "embedded" (in the webhook process) or "sidecar" (its own
container). Values reused from a release made before the choice existed (helm upgrade
--reuse-values takes the old chart's defaults) have no policyService: they keep the sidecar
shape that release runs, instead of an upgrade silently changing the pod's shape.
*/}}
{{- define "exportgate.policyServiceMode" -}}
{{- (.Values.policyService | default dict).mode | default "sidecar" -}}
{{- end -}}

{{/*
Container resources of the webhook: webhook.resources when set, else sized for the mode. One
process holds the webhook and the service when embedded, so it gets the two containers'
sidecar-mode budgets together (bench/RESULTS.md B4 at 10k tenants: webhook ~87 MiB, sidecar
~113 MiB); the numbers are documented at webhook.resources in values.yaml.
*/}}
{{- define "exportgate.webhookResources" -}}
{{- if .Values.webhook.resources -}}
{{- toYaml .Values.webhook.resources -}}
{{- else if eq (include "exportgate.policyServiceMode" .) "embedded" -}}
{{- toYaml (dict "requests" (dict "cpu" "200m" "memory" "320Mi") "limits" (dict "memory" "640Mi")) -}}
{{- else -}}
{{- toYaml (dict "requests" (dict "cpu" "100m" "memory" "128Mi") "limits" (dict "memory" "256Mi")) -}}
{{- end -}}
{{- end -}}

{{/*
The policy service's flags (exportgate/service/arguments.py), one list for both shapes: the
embedded service takes exactly the sidecar's flags, so every value keeps its meaning whichever
container runs it. Call with (dict "ctx" $ "sidecar" true|false "logFile" PATH). The sidecar's
own listening and logging flags are woven in where its container has always had them, so the
sidecar shape renders as before.
*/}}
{{- define "exportgate.serviceArgs" -}}
{{- $v := .ctx.Values -}}
- --source=kube
{{- if .sidecar }}
- --listen=unix:///run/exportgate/policy.sock
{{- end }}
- --decision-log={{ .logFile }}
{{- if .sidecar }}
- --metrics-port={{ $v.sidecar.metricsPort }}
{{- end }}
- --cache-size={{ $v.sidecar.cacheSize }}
- --cache-ttl={{ $v.sidecar.cacheTtlSeconds }}
{{- if .sidecar }}
- --log-level={{ $v.sidecar.logLevel }}
{{- end }}
{{- if not $v.webhook.mutating.enabled }}
# Without the stamp no validating call names an earlier decision: keeping each one
# for reuse would be work on every decision for nothing.
- --reuse-window=0
{{- end }}
{{- if $v.policy.enabledPacks }}
- --packs
{{- range $v.policy.enabledPacks }}
- {{ . }}
{{- end }}
{{- end }}
{{- with $v.policy.defaultAction }}
- --default-action={{ . }}
{{- end }}
{{- end -}}

{{/* Environment of the container that writes the decision log (the service's host). */}}
{{- define "exportgate.decisionLogEnv" -}}
# Names this pod's decision-log chain: one writer per chain.
- name: POD_NAME
  valueFrom: {fieldRef: {fieldPath: metadata.name}}
{{- with .Values.decisionLog.clusterName }}
# Written into every decision record, for audits over many clusters.
- name: EXPORTGATE_CLUSTER_NAME
  value: {{ . | quote }}
{{- end }}
{{- end -}}
