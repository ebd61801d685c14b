"""Creates the generated organisation's IAM users, each with an access key, in moto's
server, so the demo's AWS responder has real keys to disable.

Usage: seed_moto.py ENDPOINT ASSETS_JSON

Only loopback endpoints are accepted: this script is for the local emulator.
"""
import json
import sys
from urllib.parse import urlparse

import boto3


def main():
    endpoint, assets = sys.argv[1], sys.argv[2]
    host = urlparse(endpoint).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"seed_moto.py: {endpoint} is not a loopback address")
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with open(assets, encoding="utf-8") as f:
        identities = json.load(f)["aws_identities"]
    users = [i["arn"].rsplit("/", 1)[1] for i in identities if i.get("type") == "IAMUser"]
    for name in users:
        try:
            iam.create_user(UserName=name)
        except iam.exceptions.EntityAlreadyExistsException:
            continue
        iam.create_access_key(UserName=name)
    print(f"{len(users)} IAM users with an access key each")


if __name__ == "__main__":
    main()
