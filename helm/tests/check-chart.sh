#!/usr/bin/env bash
# Checks the Helm chart offline (no helm binary, no cluster): yamllint on the values and chart
# metadata, then helm/tests/check-chart.py (strict lint, renders, Kubernetes schemas, bad values, and
# promtool on the alert rules, their tests in helm/alerts and the dashboard's queries) for
# the oldest Kubernetes the chart supports and the newest whose schemas are bundled.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh
# promtool checks the alert rules, runs their unit tests and parses the dashboard's queries.
ensure_packages prometheus
python3 -m pip install --quiet --disable-pip-version-check \
  helm-python-sdk==0.2.2 kubernetes-validate==1.37.0 yamllint==1.38.0
yamllint --strict -d '{extends: default, rules: {line-length: {max: 110}, document-start: disable, comments: {min-spaces-from-content: 1}}}' \
  helm/cio-relay/values.yaml helm/cio-relay/Chart.yaml
echo "chart: yamllint passes values.yaml and Chart.yaml"
for version in 1.30.0 1.37.0; do
  python3 helm/tests/check-chart.py --kube-version "$version"
done
