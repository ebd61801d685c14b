#!/usr/bin/env python3
"""Writes CloudTrail-shaped records (about 1 KB each, one JSON object per line).

Deterministic for a given seed, so benchmarks and tests see the same data every run.
The shape follows real CloudTrail management events: userIdentity with a session
context, request parameters, response elements, TLS details.

Usage: gen_cloudtrail.py COUNT OUTPUT [--seed N]
"""

import argparse
import json
import random

USERS = [f"user{n:03d}" for n in range(200)] + ["it.manager", "root", "ci-deployer"]
ROLES = ["Admin", "ReadOnly", "Deployer", "DataScience", "Support"]
REGIONS = ["eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-southeast-2"]
CALLS = [
    ("s3.amazonaws.com", "GetObject", True),
    ("s3.amazonaws.com", "PutObject", False),
    ("s3.amazonaws.com", "ListBuckets", True),
    ("s3.amazonaws.com", "PutBucketPolicy", False),
    ("ec2.amazonaws.com", "DescribeInstances", True),
    ("ec2.amazonaws.com", "RunInstances", False),
    ("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", False),
    ("iam.amazonaws.com", "CreateAccessKey", False),
    ("iam.amazonaws.com", "ListUsers", True),
    ("sts.amazonaws.com", "AssumeRole", True),
    ("kms.amazonaws.com", "Decrypt", True),
    ("lambda.amazonaws.com", "Invoke", False),
    ("signin.amazonaws.com", "ConsoleLogin", False),
]
AGENTS = [
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.0 command/s3.cp",
    "Boto3/1.34.69 md/Botocore#1.34.69 os/linux#6.1.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)",
    "aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.1",
]


def record(rng: random.Random, n: int) -> dict:
    user = rng.choice(USERS)
    role = rng.choice(ROLES)
    source, name, read_only = rng.choice(CALLS)
    region = rng.choice(REGIONS)
    account = "123456789012"
    day = 1 + (n // 86400) % 28
    secs = n % 86400
    when = f"2026-10-{day:02d}T{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}Z"
    bucket = f"acme-{rng.choice(['prod', 'test', 'logs', 'finance'])}-data"
    ip = (
        f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        if rng.random() < 0.6
        else f"203.0.113.{rng.randrange(1, 255)}"
    )
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": f"AROA{n % 99991:012d}:{user}",
            "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{user}",
            "accountId": account,
            "accessKeyId": f"ASIA{rng.randrange(16**12):012X}",
            "userName": user,
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": f"AROA{ROLES.index(role) * 7919:012d}",
                    "arn": f"arn:aws:iam::{account}:role/{role}",
                    "accountId": account,
                    "userName": role,
                },
                "attributes": {
                    "creationDate": when,
                    "mfaAuthenticated": "true" if rng.random() < 0.8 else "false",
                },
            },
        },
        "eventTime": when,
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": ip,
        "userAgent": rng.choice(AGENTS),
        "requestParameters": {
            "bucketName": bucket,
            "key": f"exports/{user}/{n:08d}.csv.gz",
            "Host": f"{bucket}.s3.{region}.amazonaws.com",
        },
        "responseElements": None if read_only else {"x-amz-server-side-encryption": "aws:kms"},
        "additionalEventData": {"bytesTransferredIn": 0, "bytesTransferredOut": rng.randrange(10**7)},
        "requestID": f"{rng.randrange(16**16):016X}",
        "eventID": f"{rng.randrange(16**8):08x}-{rng.randrange(16**4):04x}-{rng.randrange(16**4):04x}-{n:012x}",
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": source != "s3.amazonaws.com",
        "recipientAccountId": account,
        "eventCategory": "Management",
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int)
    parser.add_argument("output")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with open(args.output, "w", encoding="utf-8") as out:
        for n in range(args.count):
            out.write(json.dumps(record(rng, n), separators=(",", ":")))
            out.write("\n")


if __name__ == "__main__":
    main()
