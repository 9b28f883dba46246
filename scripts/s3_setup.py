"""Prepares the S3 service the tests use (moto_server, started with INITIAL_NO_AUTH_ACTION_COUNT=3):
the first three requests create an IAM user with an S3 policy and an access key; from then on
moto checks every request's signature. Creates the tests' buckets and prints shell exports."""

import json
import sys

import boto3

endpoint = sys.argv[1]
client = lambda service, key="bootstrap", secret="bootstrap": boto3.client(  # noqa: E731
    service, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key, aws_secret_access_key=secret
)
iam = client("iam")
iam.create_user(UserName="stratus")
policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
iam.put_user_policy(UserName="stratus", PolicyName="s3", PolicyDocument=json.dumps(policy))
key = iam.create_access_key(UserName="stratus")["AccessKey"]
s3 = client("s3", key["AccessKeyId"], key["SecretAccessKey"])
for engine in ("sqlite", "postgres"):
    s3.create_bucket(Bucket=f"stratus-{engine}")
    # The outage test's own, so its blocks never count in another test's figures.
    s3.create_bucket(Bucket=f"stratus-outage-{engine}")
# The three-node flow test's (PostgreSQL only).
s3.create_bucket(Bucket="stratus-cluster")
try:
    client("s3", key["AccessKeyId"], "wrong").list_objects_v2(Bucket="stratus-sqlite")
    sys.exit("moto accepted a wrong signature: signature checking is off")
except s3.exceptions.ClientError:
    pass
print(f"export STRATUS_TEST_S3_ENDPOINT={endpoint}")
print(f"export STRATUS_TEST_S3_ACCESS_KEY_ID={key['AccessKeyId']}")
print(f"export STRATUS_TEST_S3_SECRET_ACCESS_KEY='{key['SecretAccessKey']}'")
print("export STRATUS_TEST_S3_BUCKET=stratus")
