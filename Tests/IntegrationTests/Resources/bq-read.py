#!/usr/bin/env python3
"""The independent reader of what the BigQuery sink wrote: Google's official Python client
(google-cloud-bigquery) against the emulator. Prints one JSON document on stdout.
Usage: bq-read.py API_URL PROJECT query SQL          -> {"rows": [{column: value, ...}, ...]}
       bq-read.py API_URL PROJECT table DATASET.TABLE -> {"partitioning": …, "clustering": …, "labels": …, "fields": […], "type": …}
"""
import datetime
import json
import sys

from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

api_url, project, mode, argument = sys.argv[1:5]
client = bigquery.Client(project=project, credentials=AnonymousCredentials(), client_options=ClientOptions(api_endpoint=api_url))


def plain(value):
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


if mode == "query":
    rows = [{key: plain(value) for key, value in row.items()} for row in client.query(argument).result()]
    print(json.dumps({"rows": rows}))
elif mode == "table":
    table = client.get_table(f"{project}.{argument}")
    print(json.dumps({
        "partitioning": table.time_partitioning.type_ if table.time_partitioning else None,
        "partition_field": table.time_partitioning.field if table.time_partitioning else None,
        "clustering": table.clustering_fields,
        "labels": table.labels,
        "fields": [[field.name, field.field_type, field.mode] for field in table.schema],
        "type": table.table_type,
    }))
else:
    sys.exit(f"unknown mode {mode}")
