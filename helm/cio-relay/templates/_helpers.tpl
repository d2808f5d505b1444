{{/* Names and labels, as `helm create` lays them out. */}}
{{- define "cio-relay.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "cio-relay.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "cio-relay.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "cio-relay.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "cio-relay.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cio-relay.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of one component (receiver, worker-actions…): call with (dict "root" $ "component" NAME). */}}
{{- define "cio-relay.componentLabels" -}}
{{ include "cio-relay.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "cio-relay.componentSelector" -}}
{{ include "cio-relay.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "cio-relay.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cio-relay.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "cio-relay.secretName" -}}
{{- default (include "cio-relay.fullname" .) .Values.existingSecret }}
{{- end }}

{{- define "cio-relay.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "cio-relay.streamKey" -}}
{{- printf "%s:{0}:events" .Values.redis.keyPrefix }}
{{- end }}

{{/*
The pod template shared by the receiver and every worker group. Call with
(dict "root" $ "component" NAME "args" LIST "env" LIST "resources" MAP "grace" SECONDS "extra" MAP),
where extra may hold preStopSleepSeconds, nodeSelector, tolerations, affinity,
topologySpreadConstraints and podAnnotations.
*/}}
{{- define "cio-relay.podTemplate" -}}
{{- $root := .root }}
metadata:
  labels:
    {{- include "cio-relay.componentSelector" . | nindent 4 }}
  annotations:
    # Pods roll when the configuration or the chart-made Secret changes.
    checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
    {{- if not $root.Values.existingSecret }}
    checksum/secret: {{ include (print $root.Template.BasePath "/secret.yaml") $root | sha256sum }}
    {{- end }}
    {{- with .extra.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "cio-relay.serviceAccountName" $root }}
  automountServiceAccountToken: {{ $root.Values.serviceAccount.automountServiceAccountToken }}
  terminationGracePeriodSeconds: {{ .grace }}
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml $root.Values.podSecurityContext | nindent 4 }}
  containers:
    - name: cio-relay
      image: {{ include "cio-relay.image" $root | quote }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      args:
        {{- toYaml .args | nindent 8 }}
      ports:
        {{- if eq .component "receiver" }}
        - name: http
          containerPort: 3000
          protocol: TCP
        {{- end }}
        - name: admin
          containerPort: 9090
          protocol: TCP
      env:
        {{- /* Each role reads only its keys of the Secret (no envFrom): see cio-relay.secretEnv. */}}
        {{- include "cio-relay.secretEnv" (dict "root" $root "component" .component) | nindent 8 }}
        - name: PORT
          value: "3000"
        - name: ADMIN_PORT
          value: "9090"
        - name: CIO_RELAY_CONFIG
          value: /etc/cio-relay/config.yaml
        - name: CIO_RELAY_KEY_PREFIX
          value: {{ $root.Values.redis.keyPrefix | quote }}
        - name: CIO_RELAY_PARTITIONS
          value: {{ $root.Values.redis.partitions | quote }}
        {{- if not (kindIs "invalid" $root.Values.redis.minReplicas) }}
        - name: CIO_RELAY_REDIS_MIN_REPLICAS
          value: {{ $root.Values.redis.minReplicas | quote }}
        {{- end }}
        - name: CUSTOMERIO_REGION
          value: {{ $root.Values.customerio.region | quote }}
        # The consumer name in the group: the pod name, unique and stable for its lifetime.
        - name: CIO_RELAY_CONSUMER_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        {{- with .env }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- range $name, $value := $root.Values.env }}
        - name: {{ $name }}
          value: {{ $value | toString | quote }}
        {{- end }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: admin
        periodSeconds: {{ $root.Values.probes.liveness.periodSeconds }}
        timeoutSeconds: {{ $root.Values.probes.liveness.timeoutSeconds }}
        failureThreshold: {{ $root.Values.probes.liveness.failureThreshold }}
      readinessProbe:
        httpGet:
          path: /readyz
          port: admin
        periodSeconds: {{ $root.Values.probes.readiness.periodSeconds }}
        timeoutSeconds: {{ $root.Values.probes.readiness.timeoutSeconds }}
        failureThreshold: {{ $root.Values.probes.readiness.failureThreshold }}
      {{- with .extra.preStopSleepSeconds }}
      lifecycle:
        preStop:
          sleep:
            seconds: {{ . }}
      {{- end }}
      resources:
        {{- toYaml (default $root.Values.resources .resources) | nindent 8 }}
      securityContext:
        {{- toYaml $root.Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /etc/cio-relay
          readOnly: true
        {{- if $root.Values.redis.tls.secretName }}
        - name: redis-tls
          mountPath: /var/run/secrets/redis-tls
          readOnly: true
        {{- end }}
        - name: tmp
          mountPath: /tmp
        {{- with .volumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "cio-relay.fullname" $root }}
    # The root filesystem is read-only; libraries that want a scratch folder get this one.
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
    {{- with $root.Values.redis.tls.secretName }}
    - name: redis-tls
      secret:
        secretName: {{ . }}
    {{- end }}
    {{- with .volumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .extra.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .extra.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .extra.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .extra.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/*
KEDA's view of Redis: from redis.url when the chart makes the Secret, from
worker.autoscaling.keda.redis otherwise (the chart cannot read an existing Secret); explicit
values win in both cases.
*/}}
{{- define "cio-relay.kedaRedis" -}}
{{- $given := .Values.worker.autoscaling.keda.redis }}
{{- $url := urlParse (default "redis://" .Values.redis.url) }}
{{- if .Values.redis.sentinel.enabled }}
{{- /* redis-sentinel-streams: KEDA asks the Sentinels for the primary, as the relay does. */}}
{{- if not (and .Values.redis.sentinel.hosts .Values.redis.sentinel.masterName) }}
{{- fail "worker.autoscaling.keda.enabled with redis.sentinel needs redis.sentinel.hosts and redis.sentinel.masterName" }}
{{- end }}
addresses: {{ join "," .Values.redis.sentinel.hosts | quote }}
sentinelMaster: {{ .Values.redis.sentinel.masterName | quote }}
databaseIndex: {{ default "0" (trimPrefix "db=" $url.query) | quote }}
{{- else }}
{{- $address := $given.address }}
{{- if and (not $address) (not .Values.existingSecret) $url.host }}
{{- $address = ternary $url.host (printf "%s:6379" $url.host) (contains ":" $url.host) }}
{{- end }}
{{- if not $address }}
{{- fail "worker.autoscaling.keda.enabled needs Redis's host:port for KEDA: set redis.url, or worker.autoscaling.keda.redis.address when using existingSecret" }}
{{- end }}
{{- $database := $given.databaseIndex }}
{{- if kindIs "invalid" $database }}
{{- $database = default "0" (trimPrefix "/" $url.path) }}
{{- end }}
address: {{ $address | quote }}
databaseIndex: {{ $database | toString | quote }}
{{- end }}
{{- /* TLS as the relay speaks it: KEDA verifies with the CA of redis.tls (authentication below). */}}
{{- if or (hasPrefix "rediss" (default "" .Values.redis.url)) $given.enableTLS }}
enableTLS: "true"
{{- end }}
{{- end }}

{{/*
The user and password of redis.url, as JSON {"username": …, "password": …} with only what the URL
has (redis://user:pass@…, redis://:pass@…, redis://pass@…): written to the chart's Secret for KEDA.
*/}}
{{- define "cio-relay.redisCredentials" -}}
{{- $credentials := dict }}
{{- with (urlParse (default "redis://" .Values.redis.url)).userinfo }}
{{- $parts := splitList ":" . }}
{{- if gt (len $parts) 1 }}
{{- with first $parts }}{{ $_ := set $credentials "username" . }}{{ end }}
{{- $_ := set $credentials "password" (rest $parts | join ":") }}
{{- else }}
{{- $_ := set $credentials "password" . }}
{{- end }}
{{- end }}
{{- toJson $credentials }}
{{- end }}

{{/* The Secret keys KEDA authenticates to Redis with, as TriggerAuthentication secretTargetRef entries (may be empty). */}}
{{- define "cio-relay.kedaAuthRefs" -}}
{{- $keys := dict }}
{{- if .Values.existingSecret }}
{{- $given := .Values.worker.autoscaling.keda.redis }}
{{- with $given.usernameKey }}{{ $_ := set $keys "username" . }}{{ end }}
{{- with $given.passwordKey }}{{ $_ := set $keys "password" . }}{{ end }}
{{- else }}
{{- $credentials := include "cio-relay.redisCredentials" . | fromJson }}
{{- if hasKey $credentials "username" }}{{ $_ := set $keys "username" "REDIS_USERNAME" }}{{ end }}
{{- if hasKey $credentials "password" }}{{ $_ := set $keys "password" "REDIS_PASSWORD" }}{{ end }}
{{- end }}
{{- range $parameter, $key := $keys }}
- parameter: {{ $parameter }}
  name: {{ include "cio-relay.secretName" $ }}
  key: {{ $key }}
{{- end }}
{{- with .Values.redis.tls }}
{{- if .secretName }}
- parameter: ca
  name: {{ .secretName }}
  key: {{ .caKey }}
{{- if .certKey }}
- parameter: cert
  name: {{ .secretName }}
  key: {{ .certKey }}
- parameter: key
  name: {{ .secretName }}
  key: {{ .keyKey }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
A CPU HorizontalPodAutoscaler for one component's Deployment: the receiver's, and each worker
group's when KEDA is off. Call with (dict "root" $ "component" NAME "min" N "max" N "target" PERCENT).
*/}}
{{- define "cio-relay.cpuAutoscaler" -}}
{{- $name := printf "%s-%s" (include "cio-relay.fullname" .root) .component }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ $name }}
  labels:
    {{- include "cio-relay.componentLabels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ $name }}
  minReplicas: {{ .min }}
  maxReplicas: {{ .max }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ .target }}
{{- end }}

{{/*
WAREHOUSE_URL of a BigQuery warehouse (warehouse.bigquery), or nothing when it is not set.
*/}}
{{- define "cio-relay.bigqueryURL" -}}
{{- $bq := .Values.warehouse.bigquery }}
{{- if $bq.project }}
{{- $query := list }}
{{- with $bq.location }}{{ $query = append $query (printf "location=%s" .) }}{{ end }}
{{- with $bq.tablePrefix }}{{ $query = append $query (printf "table_prefix=%s" .) }}{{ end }}
{{- printf "bigquery://%s/%s" $bq.project $bq.dataset }}{{ if $query }}?{{ join "&" $query }}{{ end }}
{{- end }}
{{- end }}

{{/*
The worker group that serves the console: the warehouse workers (they read the warehouse, so a
trace shows the stored row), or the actions workers when that group is off.
*/}}
{{- define "cio-relay.consoleGroup" -}}
{{- ternary "warehouse" "actions" .Values.worker.groups.warehouse.enabled }}
{{- end }}

{{/*
The environment a component reads from the Secret, each key by name: the least each role needs.
receiver: REDIS_URL, the signing keys; worker-actions: REDIS_URL, the Track credentials;
worker-warehouse: REDIS_URL (WAREHOUSE_URL comes with the worker's own env); the console's group
also CIO_RELAY_ADMIN_TOKEN, the others CIO_RELAY_CONSOLE=off; each role the keys secretKeys
gives it. Optional keys may be missing from the Secret; required ones stop the pod with a
CreateContainerConfigError naming the key. Also the Redis TLS files when redis.tls is set.
Call with (dict "root" $ "component" NAME).
*/}}
{{- define "cio-relay.secretEnv" -}}
{{- $root := .root }}
{{- $role := trimPrefix "worker-" .component }}
{{- $secret := include "cio-relay.secretName" $root }}
{{- $optional := list }}
{{- if eq $role "receiver" }}
{{- $optional = list "CUSTOMERIO_WEBHOOK_SECRET" "CUSTOMERIO_WEBHOOK_SECRET_PREVIOUS" }}
{{- else if eq $role "actions" }}
{{- $optional = list "CUSTOMERIO_SITE_ID" "CUSTOMERIO_TRACK_API_KEY" }}
{{- end }}
{{- $console := eq $role (include "cio-relay.consoleGroup" $root) }}
{{- if $console }}{{ $optional = append $optional "CIO_RELAY_ADMIN_TOKEN" }}{{ end }}
{{- if $root.Values.redis.sentinel.enabled }}{{ $optional = append $optional "CIO_RELAY_REDIS_SENTINEL_PASSWORD" }}{{ end }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ get $root.Values.redis.urlKeys $role }}
{{- range $optional }}
- name: {{ . }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ . }}
      optional: true
{{- end }}
{{- range (include "cio-relay.roleKeys" (dict "root" $root "role" $role) | fromJsonArray) }}
- name: {{ . }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ . }}
{{- end }}
{{- if not $console }}
- name: CIO_RELAY_CONSOLE
  value: "off"
{{- end }}
{{- with $root.Values.redis.tls }}
{{- if .secretName }}
- name: CIO_RELAY_REDIS_TLS_CA_FILE
  value: {{ printf "/var/run/secrets/redis-tls/%s" .caKey | quote }}
{{- if .certKey }}
- name: CIO_RELAY_REDIS_TLS_CERT_FILE
  value: {{ printf "/var/run/secrets/redis-tls/%s" .certKey | quote }}
- name: CIO_RELAY_REDIS_TLS_KEY_FILE
  value: {{ printf "/var/run/secrets/redis-tls/%s" .keyKey | quote }}
{{- end }}
{{- end }}
{{- with .serverName }}
- name: CIO_RELAY_REDIS_TLS_SERVER_NAME
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The Secret keys a role reads beyond its own, as a JSON list: secretKeys.<role>, and what the
YAML configuration names: each workspace's signing_keys_env for the receivers, its
track.api_key_env for the actions workers. Call with (dict "root" $ "role" receiver|actions|warehouse).
*/}}
{{- define "cio-relay.roleKeys" -}}
{{- $keys := get .root.Values.secretKeys .role }}
{{- range $name, $workspace := (default dict .root.Values.config.workspaces) }}
{{- if eq $.role "receiver" }}
{{- range (default list $workspace.signing_keys_env) }}{{ $keys = append $keys . }}{{ end }}
{{- else if and (eq $.role "actions") $workspace.track }}
{{- with $workspace.track.api_key_env }}{{ $keys = append $keys . }}{{ end }}
{{- end }}
{{- end }}
{{- $keys | uniq | toJson }}
{{- end }}
