{{- define "fledge.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "fledge.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "fledge.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{ include "fledge.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{- define "fledge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "fledge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "fledge.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "fledge.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Temporal frontend: the configured address, else the bundled dev server; one of them is required. */}}
{{- define "fledge.temporalAddress" -}}
{{- if .Values.temporal.address -}}
{{- .Values.temporal.address -}}
{{- else if .Values.devServer.enabled -}}
{{- printf "%s-temporal.%s.svc:7233" (include "fledge.fullname" .) .Release.Namespace -}}
{{- else -}}
{{- fail "set temporal.address (host:port of your Temporal frontend) or devServer.enabled=true for a trial dev server" -}}
{{- end -}}
{{- end -}}

{{/*
RBAC rules: exactly the API calls of the activities (activities/), the watcher (worker/watcher.ts) and the metrics
lister (worker/main.ts), no more. Server-side apply is a `patch`, plus `create` when it creates the object.
Keep in sync with deploy/kustomize/rbac.yaml (test/integration/deploy.test.ts compares them).
*/}}
{{- define "fledge.rbacRules" -}}
# Canaries: listed and watched (watcher, metrics); read by the activities; annotations (watcher) and finalizers
# (finalize) merge-patched; .status merge-patched through the subresource.
- apiGroups: [flagger.app]
  resources: [canaries]
  verbs: [get, list, watch, patch]
- apiGroups: [flagger.app]
  resources: [canaries/status]
  verbs: [patch]
# Objects owned by a Canary carry ownerReferences with blockOwnerDeletion: the OwnerReferencesPermissionEnforcement
# admission plugin, where enabled, requires update on the owner's finalizers.
- apiGroups: [flagger.app]
  resources: [canaries/finalizers]
  verbs: [update]
- apiGroups: [flagger.app]
  resources: [metrictemplates, alertproviders]
  verbs: [get]
# DeliveryPolicies (fledge.dev): listed by the delivery activity before a rollout starts and at each analysis tick.
- apiGroups: [fledge.dev]
  resources: [deliverypolicies]
  verbs: [list]
# ReleaseGroups (fledge.dev): listed and watched (group watcher), read by the group activities; .status
# merge-patched by the group workflow's activity.
- apiGroups: [fledge.dev]
  resources: [releasegroups]
  verbs: [get, list, watch]
- apiGroups: [fledge.dev]
  resources: [releasegroups/status]
  verbs: [patch]
# ReplicaSets of a group member's target: the previous pod template, restored when a group run is compensated.
- apiGroups: [apps]
  resources: [replicasets]
  verbs: [list]
# Targets: watched, read, scaled (merge patch); <target>-primary server-side applied.
- apiGroups: [apps]
  resources: [deployments, daemonsets]
  verbs: [get, list, watch, create, patch]
# apex/-primary/-canary Services: read, server-side applied; the kubernetes router merge-patches selectors.
# Services targeted by a Canary (targetRef kind Service): watched for new revisions.
- apiGroups: [""]
  resources: [services]
  verbs: [get, list, watch, create, patch]
# Tracked ConfigMaps/Secrets: watched and read, -primary copies server-side applied; metric/alert provider Secrets read.
- apiGroups: [""]
  resources: [configmaps, secrets]
  verbs: [get, list, watch, create, patch]
# Kubernetes Events of a rollout (core/v1, one create each; names are unique per run and sequence).
- apiGroups: [""]
  resources: [events]
  verbs: [create]
# <autoscaler>-primary copy of the HPA: read, server-side applied.
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [get, create, patch]
# KEDA autoscalerRef: <autoscaler>-primary ScaledObject read, server-side applied; the target's paused by annotation.
- apiGroups: [keda.sh]
  resources: [scaledobjects]
  verbs: [get, create, patch]
# Gateway API router: HTTPRoutes read, server-side applied, replaced on finalize (revert), deleted when fledge
# created them.
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes]
  verbs: [get, create, patch, update, delete]
# SMI router (linkerd, osm, smi:*): TrafficSplits read, server-side applied, deleted on finalize when fledge
# created them.
- apiGroups: [split.smi-spec.io]
  resources: [trafficsplits]
  verbs: [get, create, patch, delete]
# nginx and skipper routers: the user's Ingress read; the <ingress>-canary copy server-side applied, deleted on finalize.
- apiGroups: [networking.k8s.io]
  resources: [ingresses]
  verbs: [get, create, patch, delete]
# APISIX router: the user's ApisixRoute read; the <route>-<service>-canary copy server-side applied, deleted on
# finalize.
- apiGroups: [apisix.apache.org]
  resources: [apisixroutes]
  verbs: [get, create, patch, delete]
# Contour router: HTTPProxies read, server-side applied, replaced on finalize (revert), deleted when fledge
# created them.
- apiGroups: [projectcontour.io]
  resources: [httpproxies]
  verbs: [get, create, patch, update, delete]
# Traefik router: TraefikServices read and server-side applied, deleted when the Canary owns them.
- apiGroups: [traefik.io]
  resources: [traefikservices]
  verbs: [get, create, patch, delete]
# Kuma router: TrafficRoutes (cluster-scoped, so a namespaced Role cannot grant them: kuma needs rbac.scope=cluster)
# read and server-side applied, deleted when fledge created them.
- apiGroups: [kuma.io]
  resources: [trafficroutes]
  verbs: [get, create, patch, delete]
# Gloo router: Upstreams and RouteTables read and server-side applied, deleted when the Canary owns them.
- apiGroups: [gloo.solo.io]
  resources: [upstreams]
  verbs: [get, create, patch, delete]
- apiGroups: [gateway.solo.io]
  resources: [routetables]
  verbs: [get, create, patch, delete]
# Knative router and targets: the targeted Knative Service is watched (by name), read and merge-patched (the
# primary-revision annotation and spec.traffic); its Revisions are read for readiness. Nothing is created.
- apiGroups: [serving.knative.dev]
  resources: [services]
  verbs: [get, list, watch, patch]
- apiGroups: [serving.knative.dev]
  resources: [revisions]
  verbs: [get]
# Istio router: VirtualServices and DestinationRules read and server-side applied; a taken-over VirtualService
# is replaced on finalize (revert), the objects fledge created are deleted.
- apiGroups: [networking.istio.io]
  resources: [virtualservices]
  verbs: [get, create, patch, update, delete]
- apiGroups: [networking.istio.io]
  resources: [destinationrules]
  verbs: [get, create, patch, delete]
{{- with .Values.rbac.extraRules }}
{{ toYaml . }}
{{- end }}
{{- end -}}
