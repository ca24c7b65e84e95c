{{/*
Helpers shared by every template of spt-api-server.
*/}}

{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "spt-api-server.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: the release name, plus the chart name when the release name does not contain it.
Truncated to leave room for the longest component suffix.
*/}}
{{- define "spt-api-server.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "spt-api-server.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels; call with (dict "ctx" $ "component" "api"). */}}
{{- define "spt-api-server.selectorLabels" -}}
app.kubernetes.io/name: {{ include "spt-api-server.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Standard labels; call with (dict "ctx" $ "component" "api"). */}}
{{- define "spt-api-server.labels" -}}
helm.sh/chart: {{ include "spt-api-server.chart" .ctx }}
{{ include "spt-api-server.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: spt-api
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- end }}

{{- define "spt-api-server.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "spt-api-server.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The spt-api image; call with (dict "ctx" $ "gpu" bool). */}}
{{- define "spt-api-server.image" -}}
{{- $img := ternary .ctx.Values.gpuImage .ctx.Values.image (default false .gpu) }}
{{- $repo := required "image.repository (and gpuImage.repository) is required" $img.repository }}
{{- printf "%s:%s" $repo (default .ctx.Chart.AppVersion $img.tag) }}
{{- end }}

{{- define "spt-api-server.pullPolicy" -}}
{{- $img := ternary .ctx.Values.gpuImage .ctx.Values.image (default false .gpu) }}
{{- $img.pullPolicy }}
{{- end }}

{{/*
Plain settings (ConfigMap), as YAML: the chart's own (bind address, data dir), the endpoints of the
bundled dependencies, then config.env (config.env wins).
*/}}
{{- define "spt-api-server.plainEnv" -}}
{{- $full := include "spt-api-server.fullname" . }}
{{- $env := dict "SPT_API_HOST" "0.0.0.0" "SPT_API_DATA_DIR" .Values.dataDir }}
{{- if .Values.redis.enabled }}
{{- $_ := set $env "SPT_API_REDIS_URL" (printf "redis://%s-redis:6379/0" $full) }}
{{- $_ := set $env "SPT_API_BROKER_URL" (printf "redis://%s-redis:6379/1" $full) }}
{{- end }}
{{- if .Values.s3.enabled }}
{{- $_ := set $env "SPT_API_S3_ENDPOINT_URL" (printf "http://%s-s3:9000" $full) }}
{{- $_ := set $env "SPT_API_STORAGE_URL" (printf "s3://%s/results" .Values.s3.bucket) }}
{{- end }}
{{- range $k, $v := .Values.config.env }}
{{- $_ := set $env $k (toString $v) }}
{{- end }}
{{- toYaml $env }}
{{- end }}

{{/* Secret settings (chart-managed Secret), as YAML: bundled credentials, then config.secretEnv. */}}
{{- define "spt-api-server.secretEnv" -}}
{{- $full := include "spt-api-server.fullname" . }}
{{- $env := dict }}
{{- if .Values.postgresql.enabled }}
{{- $pg := .Values.postgresql }}
{{- $_ := set $env "SPT_API_DATABASE_URL" (printf "postgresql://%s:%s@%s-postgresql:5432/%s" $pg.username $pg.password $full $pg.database) }}
{{- end }}
{{- if .Values.s3.enabled }}
{{- $_ := set $env "SPT_API_S3_ACCESS_KEY_ID" .Values.s3.accessKey }}
{{- $_ := set $env "SPT_API_S3_SECRET_ACCESS_KEY" .Values.s3.secretKey }}
{{- end }}
{{- range $k, $v := .Values.config.secretEnv }}
{{- $_ := set $env $k (toString $v) }}
{{- end }}
{{- if $env }}{{ toYaml $env }}{{ end }}
{{- end }}

{{/* Fails the render when a setting listed in config.requiredEnv has no source. */}}
{{- define "spt-api-server.checkRequiredEnv" -}}
{{- $plain := include "spt-api-server.plainEnv" . | fromYaml }}
{{- $secret := include "spt-api-server.secretEnv" . | fromYaml }}
{{- $external := ternary .Values.config.existingSecretKeys (list) (not (empty .Values.config.existingSecret)) }}
{{- range .Values.config.requiredEnv }}
{{- if not (or (get $plain .) (get $secret .) (has . $external)) }}
{{- fail (printf "%s is required: set it in config.env, config.secretEnv or config.existingSecretKeys, or enable the bundled dependency" .) }}
{{- end }}
{{- end }}
{{- if eq (toString (get $plain "SPT_API_AUTH_ENABLED")) "true" }}
{{- range (list "SPT_API_KEYCLOAK_URL" "SPT_API_KEYCLOAK_CLIENT_SECRET" "SPT_API_SESSION_SECRET") }}
{{- if not (or (get $plain .) (get $secret .) (has . $external)) }}
{{- fail (printf "%s is required with SPT_API_AUTH_ENABLED=true: set it in config.env, config.secretEnv or config.existingSecretKeys" .) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and .Values.config.existingSecretKeys (not .Values.config.existingSecret) }}
{{- fail "config.existingSecretKeys is set but config.existingSecret is empty" }}
{{- end }}
{{- end }}

{{/* envFrom + env of every spt-api container; call with (dict "ctx" $ "extra" (list of env entries)). */}}
{{- define "spt-api-server.envBlock" -}}
{{- $ctx := .ctx }}
{{- $full := include "spt-api-server.fullname" $ctx -}}
envFrom:
  - configMapRef:
      name: {{ $full }}-config
{{- if include "spt-api-server.secretEnv" $ctx }}
  - secretRef:
      name: {{ $full }}-secret
{{- end }}
{{- $entries := default (list) .extra }}
{{- if $ctx.Values.config.existingSecret }}
{{- range $ctx.Values.config.existingSecretKeys }}
{{- $entries = append $entries (dict "name" . "valueFrom" (dict "secretKeyRef" (dict "name" $ctx.Values.config.existingSecret "key" .))) }}
{{- end }}
{{- end }}
{{- if $entries }}
env:
  {{- toYaml $entries | nindent 2 }}
{{- end }}
{{- end }}

{{/* Restart pods when the settings change. */}}
{{- define "spt-api-server.configChecksum" -}}
checksum/config: {{ printf "%s\n%s" (include "spt-api-server.plainEnv" .) (include "spt-api-server.secretEnv" .) | sha256sum }}
{{- end }}

{{/* Pod-level fields shared by every spt-api pod. */}}
{{- define "spt-api-server.podCommon" -}}
serviceAccountName: {{ include "spt-api-server.serviceAccountName" . }}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end }}

{{/* Writable scratch space on the read-only root file system. */}}
{{- define "spt-api-server.scratchVolumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- end }}

{{/* A Celery worker container command; call with (dict "queues" "a,b" "concurrency" N). */}}
{{- define "spt-api-server.workerCommand" -}}
- spt-api
- worker
- --queues
- {{ .queues | quote }}
- --concurrency
- {{ .concurrency | quote }}
{{- end }}
