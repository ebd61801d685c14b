#!/usr/bin/env python3
"""Writes a labelled month of a synthetic organisation's security telemetry.

The unsupervised model stages are judged on this data: a few hundred people in eight
departments using Okta, Microsoft 365 and AWS, a VPC with about sixty hosts, with the
noise a real estate has (travel, new joiners, role changes, month-end spikes, release
days, failed logins, rare but benign actions) and eight attacks placed in the second half
of the period, so the models have history before them. Everything is drawn from one
seeded random generator, so the same arguments always give the same bytes.

Outputs (each file sorted by event time):
  aws_cloudtrail.jsonl   CloudTrail records, one per line
  aws_vpcflow.log        VPC Flow Logs version 2 text (header line, 10-minute aggregates)
  o365_audit.jsonl       Office 365 Management Activity API records
  okta_system_log.jsonl  Okta System Log events
  labels.json            the attacks, with entity keys as the normalisers derive them
  meta.json              arguments, period and record counts
  directory.jsonl        the people (department, title, location) for peer groups
  assets.json            hosts of the VPC and AWS identities

Usage: generate.py --out DIR [--users 500] [--days 28] [--seed 7] [--start 2026-09-07]
"""

import argparse
import calendar
import datetime as dt
import hashlib
import json
import math
import os
import random
import sys
import time
from collections import defaultdict

DOMAIN = "acme.example"
TENANT = "acme"
ORG_ID = "5b7c1f3e-8d2a-4c61-9e0f-3a6b2d9c7e41"
PROD = "123456789012"
DEV = "210987654321"
DAY = 86400
HMS = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

# --------------------------------------------------------------------------- places

# zone: (standard offset in hours, daylight-saving rule)
ZONES = {
    "uk": (0.0, "eu"),
    "cet": (1.0, "eu"),
    "us_east": (-5.0, "us"),
    "us_west": (-8.0, "us"),
    "in": (5.5, None),
    "gulf": (4.0, None),
    "sg": (8.0, None),
    "jp": (9.0, None),
}

# key: (country, city, state, postal code, lat, lon, zone, ISP /16 prefixes)
LOCATIONS = {
    "london": ("United Kingdom", "London", "England", "EC2A", 51.52, -0.08, "uk",
               [(81, 2), (86, 150), (51, 148), (92, 40)]),
    "newyork": ("United States", "New York", "New York", "10001", 40.75, -73.99, "us_east",
                [(24, 90), (68, 173), (72, 229)]),
    "sanfrancisco": ("United States", "San Francisco", "California", "94105", 37.79, -122.39,
                     "us_west", [(73, 92), (98, 207)]),
    "bengaluru": ("India", "Bengaluru", "Karnataka", "560001", 12.97, 77.59, "in",
                  [(49, 205), (106, 51), (122, 171)]),
    "berlin": ("Germany", "Berlin", "Berlin", "10115", 52.52, 13.40, "cet", [(84, 128), (91, 64)]),
    "paris": ("France", "Paris", "Ile-de-France", "75001", 48.86, 2.35, "cet", [(90, 3), (82, 64)]),
    "amsterdam": ("Netherlands", "Amsterdam", "North Holland", "1012", 52.37, 4.90, "cet",
                  [(77, 160), (145, 53)]),
    "madrid": ("Spain", "Madrid", "Madrid", "28001", 40.42, -3.70, "cet", [(88, 6), (83, 32)]),
    "dublin": ("Ireland", "Dublin", "Leinster", "D02", 53.35, -6.26, "uk", [(86, 40), (37, 228)]),
    "dubai": ("United Arab Emirates", "Dubai", "Dubai", "00000", 25.20, 55.27, "gulf",
              [(94, 200), (86, 96)]),
    "singapore": ("Singapore", "Singapore", "Singapore", "018956", 1.28, 103.85, "sg",
                  [(116, 86), (118, 200)]),
    "tokyo": ("Japan", "Tokyo", "Tokyo", "100-0001", 35.68, 139.69, "jp", [(126, 0), (153, 240)]),
    "mumbai": ("India", "Mumbai", "Maharashtra", "400001", 19.08, 72.88, "in", [(49, 36), (103, 21)]),
}
OFFICES = {"london": ["195.8.64.10", "195.8.64.11", "195.8.64.12"],
           "newyork": ["64.125.30.20", "64.125.30.21"],
           "bengaluru": ["182.74.19.40", "182.74.19.41"]}

# ------------------------------------------------------------------------ departments

# apps: Okta app label -> probability of use on a working day (per-user jitter applied)
DEPARTMENTS = {
    "engineering": dict(
        share=0.26, apps={"GitHub": 0.95, "Jira": 0.9, "Confluence": 0.7, "Slack": 0.97,
                          "AWS IAM Identity Center": 0.35, "Datadog": 0.5, "PagerDuty": 0.15},
        sites=["Engineering", "Platform", "Product"], fph=1.4,
        homes=[("london", 0.6), ("bengaluru", 0.3), ("sanfrancisco", 0.1)],
        travel=0.02, trips=["dublin", "newyork", "bengaluru"], weekend=0.15, share_ext=0.02,
        mail=3.0, senders=["vendor", "newsletter"], title="Software Engineer"),
    "sales": dict(
        share=0.17, apps={"Salesforce": 0.97, "Slack": 0.9, "DocuSign": 0.4, "Gong": 0.6,
                          "LinkedIn Sales Navigator": 0.5, "Zoom": 0.8},
        sites=["Sales", "Contracts", "Marketing"], fph=1.8,
        homes=[("london", 0.6), ("newyork", 0.3), ("sanfrancisco", 0.1)],
        travel=0.25, trips=["berlin", "paris", "amsterdam", "newyork", "dubai", "singapore"],
        weekend=0.12, share_ext=0.35, mail=6.0, senders=["customer", "newsletter"],
        title="Account Executive"),
    "marketing": dict(
        share=0.10, apps={"Box": 0.97, "HubSpot": 0.9, "Slack": 0.95, "Figma": 0.6,
                          "Adobe Creative Cloud": 0.5, "Salesforce": 0.3},
        sites=["Marketing", "Brand", "Events"], fph=2.6,
        homes=[("london", 0.8), ("newyork", 0.2)],
        travel=0.05, trips=["newyork", "paris", "berlin"], weekend=0.06, share_ext=0.2,
        mail=4.0, senders=["agency", "newsletter"], title="Marketing Manager"),
    "finance": dict(
        share=0.08, apps={"NetSuite": 0.95, "Workday": 0.5, "Expensify": 0.6, "Slack": 0.8,
                          "DocuSign": 0.2, "Coupa": 0.5},
        sites=["Finance", "Procurement", "Exec"], fph=2.2,
        homes=[("london", 0.9), ("newyork", 0.1)],
        travel=0.01, trips=["dublin", "newyork"], weekend=0.05, share_ext=0.03,
        mail=3.0, senders=["supplier", "bank"], title="Financial Analyst"),
    "hr": dict(
        share=0.06, apps={"Workday": 0.95, "Greenhouse": 0.8, "Slack": 0.9, "Culture Amp": 0.3,
                          "DocuSign": 0.3},
        sites=["HR", "People-Policies"], fph=1.6,
        homes=[("london", 0.85), ("newyork", 0.15)],
        travel=0.02, trips=["dublin", "newyork"], weekend=0.04, share_ext=0.05,
        mail=4.0, senders=["recruiter", "newsletter"], title="People Partner"),
    "support": dict(
        share=0.16, apps={"Zendesk": 0.98, "Salesforce": 0.6, "Slack": 0.95, "Jira": 0.5,
                          "Confluence": 0.4},
        sites=["Support", "KnowledgeBase"], fph=1.0,
        homes=[("london", 0.4), ("bengaluru", 0.4), ("newyork", 0.2)],
        travel=0.01, trips=["mumbai", "dublin"], weekend=0.2, share_ext=0.05,
        mail=5.0, senders=["customer"], title="Support Specialist"),
    "it": dict(
        share=0.08, apps={"ServiceNow": 0.95, "Jamf": 0.6, "AWS IAM Identity Center": 0.5,
                          "Slack": 0.95, "Okta Admin Console": 0.4, "Confluence": 0.5},
        sites=["IT", "Security"], fph=0.9,
        homes=[("london", 0.7), ("bengaluru", 0.3)],
        travel=0.01, trips=["dublin", "amsterdam"], weekend=0.12, share_ext=0.02,
        mail=2.5, senders=["vendor", "newsletter"], title="Systems Engineer"),
    "legal": dict(
        share=0.09, apps={"Ironclad": 0.9, "DocuSign": 0.8, "Slack": 0.8, "Box": 0.15},
        sites=["Legal", "Contracts"], fph=1.8,
        homes=[("london", 0.85), ("newyork", 0.15)],
        travel=0.03, trips=["newyork", "dublin", "paris"], weekend=0.05, share_ext=0.25,
        mail=3.5, senders=["lawfirm", "customer"], title="Legal Counsel"),
}
ORG_APPS = {"Microsoft Office 365": 0.96, "Zoom": 0.35, "Workday": 0.04}
ALL_APPS = sorted({a for d in DEPARTMENTS.values() for a in d["apps"]} | set(ORG_APPS))
ROLE_CHANGES = [("support", "sales"), ("engineering", "it"), ("sales", "marketing")]

FIRST = ("Olivia Amelia Isla Ava Mia Ivy Lily Isabella Rosie Sophia Grace Freya Alice Emily "
         "Chloe Ella Evie Daisy Poppy Florence Hannah Ruby Jessica Sarah Priya Ananya Diya "
         "Aisha Fatima Maria Elena Sofia Laura Anna Noah Oliver George Arthur Leo Harry Oscar "
         "Archie Henry Jack Charlie Freddie Theo Thomas James William Samuel Daniel Joseph "
         "David Adam Alexander Edward Benjamin Lucas Max Arjun Rahul Vikram Rohan Aditya "
         "Karan Mohammed Omar Ali Luca Marco Pierre Jan Lars Diego Carlos Mateo Ethan Liam "
         "Mason Logan Caleb Nathan Ryan Tyler Kevin Brian Jason Megan Ashley Rachel Lauren").split()
LAST = ("Smith Jones Taylor Brown Williams Wilson Johnson Davies Patel Wright Robinson Thompson "
        "Evans Walker White Roberts Green Hall Wood Jackson Clarke Hughes Edwards Turner Hill "
        "Moore Harris Martin Cooper Ward Morris King Baker Lewis Allen Young Scott Mitchell "
        "Campbell Anderson Bell Murphy Kelly Price Bennett Griffiths Shaw Cook Richardson "
        "Sharma Singh Kumar Gupta Iyer Reddy Nair Rao Mehta Khan Ahmed Hussain Chen Wang Li "
        "Nguyen Kim Garcia Rodriguez Martinez Lopez Rossi Bianchi Muller Schmidt Dubois "
        "Janssen Novak Silva Costa Fischer Weber Meyer Kowalski Olsen Larsen Berg").split()

DESKTOP_UAS = [
    ("Windows 10", "CHROME", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
     "(KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36"),
    ("Windows 10", "EDGE", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
     "(KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36 Edg/128.0.2739.54"),
    ("Mac OS X", "CHROME", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
     "(KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36"),
    ("Mac OS X", "SAFARI", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) Version/17.6 Safari/605.1.15"),
    ("Mac OS X", "FIREFOX", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:130.0) "
     "Gecko/20100101 Firefox/130.0"),
]
MOBILE_UA = ("iOS", "SAFARI", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) "
             "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1")
SYNC_UA = "Microsoft SkyDriveSync 24.151.0728.0003 ship; Windows NT 10.0 (19045)"

SITE_TOPICS = {
    "Engineering": ["Design Doc", "RFC", "Runbook", "Postmortem", "Architecture", "Sprint Review"],
    "Platform": ["Capacity Plan", "Terraform Notes", "Incident Review", "Cost Report", "SLOs"],
    "Product": ["Roadmap", "PRD", "User Research", "Release Notes", "Competitive Analysis"],
    "Sales": ["Pipeline", "Account Plan", "Proposal", "Pricing", "QBR", "Forecast"],
    "Contracts": ["MSA", "Order Form", "NDA", "DPA", "SOW", "Renewal"],
    "Marketing": ["Campaign Brief", "Webinar", "Launch Plan", "Press Release", "Case Study"],
    "Brand": ["Logo Pack", "Brand Guidelines", "Banner", "Photo Shoot", "Video Edit"],
    "Events": ["Booth Plan", "Attendee List", "Event Budget", "Speaker Deck", "Run of Show"],
    "Finance": ["Budget", "Forecast", "Invoice Register", "Payment Run", "Month End Close",
                "Accruals", "Board Pack", "Cash Flow", "VAT Return", "Payroll Summary"],
    "Procurement": ["Supplier List", "Purchase Order", "Vendor Assessment", "Tender"],
    "Exec": ["Board Minutes", "Strategy", "OKRs", "Leadership Offsite"],
    "HR": ["Offer Letter", "Headcount Plan", "Onboarding", "Performance Review", "Org Chart"],
    "People-Policies": ["Handbook", "Leave Policy", "Benefits", "Code of Conduct"],
    "Support": ["Escalation", "Ticket Export", "Macro", "Customer Call Notes", "Weekly Report"],
    "KnowledgeBase": ["How To", "Troubleshooting", "FAQ", "Known Issues"],
    "IT": ["Asset Register", "Laptop Build", "Access Review", "Change Request", "Vendor Contract"],
    "Security": ["Risk Register", "Pen Test Report", "Policy", "Audit Evidence", "Phishing Report"],
    "Legal": ["Contract Review", "Litigation Hold", "Trademark", "Privacy Notice", "Opinion"],
    "OneDrive": ["Notes", "Draft", "Scratch", "Meeting Notes", "Expenses", "Ideas", "To Do"],
}
EXT_SIZE = [("docx", 60_000, 0.8), ("xlsx", 90_000, 1.0), ("pptx", 900_000, 1.0),
            ("pdf", 250_000, 1.0), ("csv", 40_000, 1.2), ("png", 350_000, 0.7)]

PARTNER_DOMAINS = {
    "customer": ["globex.com", "initech.com", "umbrellacorp.com", "hooli.com", "soylent.co.uk",
                 "stark-industries.com", "wayne-enterprises.com", "cyberdyne.io", "vandelay.com",
                 "massive-dynamic.com"],
    "agency": ["sterling-cooper.com", "brightside-agency.co.uk"],
    "lawfirm": ["pearson-hardman.com", "crane-poole.co.uk"],
    "recruiter": ["talentbridge.co.uk", "hirewell.com"],
    "vendor": ["fabrikam.com", "litware.com"],
    "newsletter": ["news.techdigest.com", "mail.weeklyops.io", "updates.cloudbrief.com"],
    "bank": ["alerts.barclays-example.co.uk"],
}
# Suppliers that mail the finance team regularly: (address, sender IP, subject prefix)
SUPPLIERS = [("billing@northwindtraders.com", "40.107.22.51", "Invoice"),
             ("accounts@contoso-logistics.com", "40.107.8.77", "Statement"),
             ("ar@tailspin-office.co.uk", "52.101.66.14", "Invoice")]
# Link domains people click normally (weight by popularity) and per department extras.
CLICK_DOMAINS = [("teams.microsoft.com", 30), ("www.linkedin.com", 20), ("zoom.us", 18),
                 ("acme.atlassian.net", 14), ("docs.google.com", 8), ("www.bbc.co.uk", 6),
                 ("www.ft.com", 4), ("acme.my.salesforce.com", 8), ("app.hubspot.com", 4),
                 ("www.docusign.net", 6), ("acme.zendesk.com", 5), ("acme.workday.com", 5),
                 ("www.gov.uk", 3), ("medium.com", 3), ("www.youtube.com", 5),
                 ("github.com", 8), ("stackoverflow.com", 4), ("status.aws.amazon.com", 2),
                 ("portal.northwindtraders.com", 2), ("track.contoso-logistics.com", 2),
                 ("www.eventbrite.co.uk", 2), ("calendly.com", 4), ("acme.box.com", 3)]
DEPT_CLICKS = {"engineering": ["github.com", "stackoverflow.com", "status.aws.amazon.com"],
               "sales": ["acme.my.salesforce.com", "www.linkedin.com", "calendly.com"],
               "marketing": ["app.hubspot.com", "acme.box.com", "www.eventbrite.co.uk"],
               "finance": ["portal.northwindtraders.com", "track.contoso-logistics.com"],
               "support": ["acme.zendesk.com"], "hr": ["acme.workday.com"],
               "it": ["status.aws.amazon.com"], "legal": ["www.docusign.net"]}
# The hosts the links in a sender's mail lead to, by kind of sender (`{d}` is its domain).
SENDER_LINKS = {"customer": ["www.{d}", "www.docusign.net", "{s}.sharepoint.com"],
                "agency": ["www.{d}", "wetransfer.com", "www.dropbox.com"],
                "lawfirm": ["portal.{d}", "www.docusign.net"],
                "recruiter": ["jobs.{d}", "www.linkedin.com"],
                "vendor": ["support.{d}", "www.{d}"],
                "newsletter": ["click.{d}", "www.{d}"],
                "bank": ["online.{d}"]}
# How often a click on a sender's mail leads to a host it never linked before: a
# newsletter's links churn (events, webinars, trackers); an invoice leads to the portal.
NEW_LINK_RATE = {"newsletter": 0.05, "supplier": 0.002, "bank": 0.002}
SUPPLIER_LINKS = {"northwindtraders.com": ["portal.northwindtraders.com"],
                  "contoso-logistics.com": ["track.contoso-logistics.com"],
                  "tailspin-office.co.uk": ["www.tailspin-office.co.uk", "pay.tailspin-office.co.uk"]}
RARE_WORDS = ["summit", "insight", "cloud", "data", "pulse", "bright", "nova", "peak", "signal",
              "vector", "orbit", "harbor", "maple", "quartz", "lumen", "cedar", "atlas", "ember"]
MAIL_SUBJECTS = ["Catch-up", "Quick question", "Follow up from today", "Agenda for Thursday",
                 "Re: proposal", "Notes from the call", "Weekly update", "Re: timeline",
                 "Draft for review", "Reminder", "FYI", "Re: contract", "Lunch?", "Re: budget",
                 "Action items", "Updated deck", "Re: question about the renewal", "Welcome!"]


# --------------------------------------------------------------------------- helpers

def poisson(rng, lam):
    """Small-lambda Poisson draw (Knuth), normal approximation above 30."""
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, int(rng.gauss(lam, math.sqrt(lam)) + 0.5))
    limit = math.exp(-lam)
    k = 0
    p = rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def uuid4(rng):
    h = "%032x" % rng.getrandbits(128)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def b62(rng, n):
    bits = rng.getrandbits(6 * n)
    return "".join(B62[(bits >> (6 * i)) % 62] for i in range(n))


def hexid(rng, n):
    return "%0*x" % (n, rng.getrandbits(4 * n))


def public_ip(rng, prefixes):
    a, b = rng.choice(prefixes)
    return f"{a}.{b}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def random_internet_ip(rng):
    """A routable-looking address outside private, loopback, multicast and our own ranges."""
    while True:
        a = rng.randrange(1, 224)
        if a in (10, 127, 169, 172, 192, 100, 0):
            continue
        return f"{a}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def weighted(rng, pairs):
    r = rng.random() * sum(w for _, w in pairs)
    for v, w in pairs:
        r -= w
        if r < 0:
            return v
    return pairs[-1][0]


class Clock:
    """Relative seconds since the start (UTC midnight) and their vendor renderings."""

    def __init__(self, start, days):
        self.start = start
        self.days = days
        self.epoch0 = calendar.timegm(start.timetuple())
        self.end = days * DAY
        self.dates = {d: (start + dt.timedelta(days=d)).isoformat() for d in range(-3, days + 4)}
        self._offsets = {}

    def iso(self, t):
        d, s = divmod(int(t), DAY)
        return f"{self.dates[d]}T{HMS[s]}Z"

    def plain(self, t):
        d, s = divmod(int(t), DAY)
        return f"{self.dates[d]}T{HMS[s]}"

    def iso_ms(self, ms):
        d, r = divmod(ms, DAY * 1000)
        s, m = divmod(r, 1000)
        return f"{self.dates[d]}T{HMS[s]}.{m:03d}Z"

    def offset(self, zone, day):
        """UTC offset in hours of `zone` at noon UTC of relative `day` (DST aware)."""
        key = (zone, day)
        got = self._offsets.get(key)
        if got is None:
            std, rule = ZONES[zone]
            t = self.epoch0 + day * DAY + DAY // 2
            got = std
            if rule:
                y = time.gmtime(t).tm_year
                if rule == "eu":
                    a = _utc(_last_sunday(y, 3), 1)
                    b = _utc(_last_sunday(y, 10), 1)
                else:
                    a = _utc(_nth_sunday(y, 3, 2), 2 - std)
                    b = _utc(_nth_sunday(y, 11, 1), 2 - std - 1)
                if a <= t < b:
                    got = std + 1
            self._offsets[key] = got
        return got


def _last_sunday(y, m):
    d = dt.date(y, m, calendar.monthrange(y, m)[1])
    return d - dt.timedelta(days=(d.weekday() - 6) % 7)


def _nth_sunday(y, m, n):
    d = dt.date(y, m, 1)
    return d + dt.timedelta(days=(6 - d.weekday()) % 7 + 7 * (n - 1))


def _utc(date, hour):
    return calendar.timegm(date.timetuple()) + int(hour * 3600)


class Out:
    """Per-file buckets of (sort key, line) by UTC day, flushed in order once complete."""

    FILES = {"ct": ("aws_cloudtrail.jsonl", 1), "flow": ("aws_vpcflow.log", 1),
             "o365": ("o365_audit.jsonl", 1), "okta": ("okta_system_log.jsonl", 1000)}

    def __init__(self, out_dir, clock):
        self.clock = clock
        self.buckets = {k: defaultdict(list) for k in self.FILES}
        self.files = {k: open(os.path.join(out_dir, name), "w", encoding="utf-8",
                              buffering=1 << 20) for k, (name, _) in self.FILES.items()}
        self.counts = {k: 0 for k in self.FILES}
        self.flushed = -1
        self.files["flow"].write("version account-id interface-id srcaddr dstaddr srcport "
                                 "dstport protocol packets bytes start end action log-status\n")

    def add(self, kind, key, line):
        """`key` is relative seconds (ms for okta); lines outside the period are dropped."""
        day = key // (DAY * self.FILES[kind][1])
        if 0 <= day < self.clock.days:
            if day <= self.flushed:
                raise RuntimeError(f"{kind}: event for day {day} after it was written")
            self.buckets[kind][day].append((key, line))

    def flush_through(self, day):
        for d in range(self.flushed + 1, min(day, self.clock.days - 1) + 1):
            for kind, f in self.files.items():
                rows = self.buckets[kind].pop(d, [])
                rows.sort()
                if rows:
                    f.write("\n".join(line for _, line in rows))
                    f.write("\n")
                self.counts[kind] += len(rows)
        self.flushed = max(self.flushed, min(day, self.clock.days - 1))

    def close(self):
        self.flush_through(self.clock.days - 1)
        for f in self.files.values():
            f.close()
        return {self.FILES[k][0]: n for k, n in self.counts.items()}


# ----------------------------------------------------------------------- organisation

class Person:
    """One employee: identity, habits, and the plan of their month (trips, leave, changes)."""

    def __init__(self, rng, idx, first, last, dept, head):
        self.idx = idx
        self.first, self.last = first, last
        self.email = f"{first}.{last}@{DOMAIN}".lower()
        self.dept0 = dept
        self.head = head
        cfg = DEPARTMENTS[dept]
        self.home = weighted(rng, cfg["homes"])
        self.office_p = 0.55 if self.home in OFFICES else 0.0
        self.start_h = min(10.5, max(7.0, rng.gauss(8.7, 0.6)))
        self.len_h = min(10.5, max(7.0, rng.gauss(8.6, 0.6)))
        self.activity = math.exp(rng.gauss(0.0, 0.35))
        self.ua = DESKTOP_UAS[rng.randrange(len(DESKTOP_UAS))]
        self.home_ip = public_ip(rng, LOCATIONS[self.home][7])
        self.okta_id = "00u" + b62(rng, 17)
        self.aad_id = uuid4(rng)
        self.puid = "1003" + hexid(rng, 12).upper()
        self.join_day = 0
        self.change = None          # (day, new department)
        self.leave = None           # (first day, last day)
        self.trips = []             # [(first day, last day, location, hotel ip)]
        self.apps = {}
        self.apps_after = {}
        self.iam = None             # IAM user name when the person has one
        self.display = f"{first} {last}"
        self.actor = {"id": self.okta_id, "type": "User", "alternateId": self.email,
                      "displayName": self.display, "detailEntry": None}
        self.ua_dict = {"rawUserAgent": self.ua[2], "os": self.ua[0], "browser": self.ua[1]}
        self.onedrive = (f"https://{TENANT}-my.sharepoint.com/personal/"
                         f"{self.email.replace('.', '_').replace('@', '_')}/")

    def dept_on(self, day):
        return self.change[1] if self.change and day >= self.change[0] else self.dept0

    def apps_on(self, day):
        return self.apps_after if self.change and day >= self.change[0] else self.apps

    def trip_on(self, day):
        for trip in self.trips:
            if trip[0] <= day <= trip[1]:
                return trip
        return None


def app_habits(rng, dept):
    apps = {}
    for app, p in DEPARTMENTS[dept]["apps"].items():
        if p < 0.9 and rng.random() < 0.15:
            continue  # not everyone in a team uses every tool
        apps[app] = min(0.99, p * rng.uniform(0.75, 1.08))
    for app, p in ORG_APPS.items():
        if app == "Workday" and dept in ("hr", "finance"):
            continue
        apps.setdefault(app, p * rng.uniform(0.6, 1.2))
    return apps


class Org:
    """The people, the AWS identities and the hosts, drawn once from the org generator."""

    def __init__(self, seed, n_users, days):
        rng = random.Random(f"{seed}/org")
        self.days = days
        names, seen = [], set()
        while len(names) < n_users:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            if (first, last) in seen:
                continue
            seen.add((first, last))
            names.append((first, last))
        quotas = [(d, cfg["share"]) for d, cfg in DEPARTMENTS.items()]
        total = sum(s for _, s in quotas)
        counts = {d: max(3, round(s / total * n_users)) for d, s in quotas}
        counts["engineering"] += n_users - sum(counts.values())
        depts = [d for d, c in counts.items() for _ in range(c)]
        rng.shuffle(depts)
        self.people = []
        heads = set()
        for i, ((first, last), dept) in enumerate(zip(names, depts)):
            p = Person(rng, i, first, last, dept, dept not in heads)
            heads.add(dept)
            p.apps = app_habits(rng, dept)
            self.people.append(p)
        self.by_dept = defaultdict(list)
        for p in self.people:
            self.by_dept[p.dept0].append(p)
        half = days // 2
        # New joiners: about 3 %, starting between day 3 and 70 % of the period.
        for p in rng.sample(self.people, max(2, n_users * 3 // 100)):
            if not p.head:
                d = rng.randrange(3, max(4, int(days * 0.7)))
                p.join_day = d + (7 - d % 7) % 7 if d % 7 >= 5 else d  # people start on weekdays
        # Role changes halfway: 2 (small org) or 3 people adopt a new department's habits.
        self.changers = []
        for src, dst in ROLE_CHANGES[: 3 if n_users >= 200 else 2]:
            cands = [p for p in self.by_dept[src] if not p.head and p.join_day == 0
                     and p.change is None]
            p = cands[rng.randrange(len(cands))]
            p.change = (half + rng.randrange(-1, 2), dst)
            p.apps_after = app_habits(rng, dst)
            self.changers.append(p)
        for p in self.people:
            cfg = DEPARTMENTS[p.dept0]
            rate = 0.3 if p.head else cfg["travel"]
            n_trips = poisson(rng, rate * days / 7)
            for _ in range(n_trips):
                d0 = rng.randrange(max(1, p.join_day + 1), days)
                length = rng.randrange(3, 6)
                dest = rng.choice([c for c in cfg["trips"] if c != p.home] or cfg["trips"])
                if any(not (d0 + length < a or d0 > b) for a, b, _, _ in p.trips):
                    continue
                p.trips.append((d0, d0 + length - 1, dest, public_ip(rng, LOCATIONS[dest][7])))
            if rng.random() < 0.06 and p.join_day == 0:
                d0 = rng.randrange(0, days)
                p.leave = (d0, d0 + rng.randrange(3, 8))
        # IAM users: up to 16 engineers and 5 IT people who work with AWS directly.
        eng = [p for p in self.by_dept["engineering"] if p.join_day == 0 and p.change is None]
        it = [p for p in self.by_dept["it"] if p.join_day == 0 and p.change is None]
        self.iam_people = eng[:16] + it[:5]
        for p in self.iam_people:
            p.iam = p.email.split("@")[0]
        self.it_admins = it[:3] or self.by_dept["it"][:1]
        # Up to six accounts-payable clerks, leaving finance people outside the team
        # (the insider scenario needs one) in the smallest organisations.
        settled = [p for p in self.by_dept["finance"] if p.join_day == 0 and p.change is None]
        self.ap_team = settled[:min(6, max(1, len(settled) - 2))]
        self.sites = build_sites(rng)
        self.click_pool = CLICK_DOMAINS
        self.apps = {a: ("0oa" + b62(rng, 17)) for a in ALL_APPS}


def build_sites(rng):
    """Per SharePoint site: its URL, site id and a pool of file names with sizes."""
    sites = {}
    for name, topics in SITE_TOPICS.items():
        files = []
        for _ in range(160 if name != "OneDrive" else 60):
            ext, size, sigma = EXT_SIZE[rng.randrange(len(EXT_SIZE))]
            topic = rng.choice(topics)
            suffix = rng.choice(["", " v2", " v3", " final", " draft", " 2026-09", " 2026-10",
                                 " Q3", " Q4", " (1)", " - copy"])
            folder = rng.choice(["Shared Documents", "Shared Documents/General",
                                 f"Shared Documents/{topic}", "Shared Documents/Archive"])
            if name == "OneDrive":
                folder = rng.choice(["Documents", "Documents/Work", "Desktop"])
            fname = f"{topic}{suffix}.{ext}"
            files.append((fname, ext, folder, int(size * math.exp(rng.gauss(0, sigma)))))
        sites[name] = {"url": f"https://{TENANT}.sharepoint.com/sites/{name}/",
                       "id": uuid4(rng), "files": files}
    return sites


# ---------------------------------------------------------------------- record makers

GEO = {k: {"city": v[1], "state": v[2], "country": v[0], "postalCode": v[3],
           "geolocation": {"lat": v[4], "lon": v[5]}} for k, v in LOCATIONS.items()}
OKTA_MSG = {
    "user.session.start": ("User login to Okta", "core.user_auth.login_success"),
    "user.authentication.auth_via_mfa": ("Authentication of user via MFA",
                                         "core.user.factor.attempt_success"),
    "user.authentication.sso": ("User single sign on to app", "app.auth.sso"),
    "user.account.update_password": ("User update password for Okta",
                                     "core.user.config.password_update.success"),
    "application.user_membership.add": ("Add user to application membership",
                                        "application.provision.user.push"),
    "user.account.update_profile": ("Update user profile for Okta",
                                    "core.user.config.profile_update.success"),
    "user.session.end": ("User logout from Okta", "core.user_auth.logout_success"),
}


class Streams:
    """Builds vendor records and hands them to `Out`; one rng per stream keeps them stable."""

    def __init__(self, org, clock, out, seed):
        self.org, self.clock, self.out = org, clock, out
        self.r_okta = random.Random(f"{seed}/okta")
        self.r_o365 = random.Random(f"{seed}/o365")
        self.r_aws = random.Random(f"{seed}/aws")
        self.r_net = random.Random(f"{seed}/net")
        self.r_day = random.Random(f"{seed}/days")
        # Inbox rules have a stream of their own, so adding them left every other
        # record of a seed as it was.
        self.r_rules = random.Random(f"{seed}/inbox-rules")
        # So do the clicks on links in partners' mail.
        self.r_mailclicks = random.Random(f"{seed}/mail-clicks")

    # ---------------------------------------------------------------- okta
    def okta(self, t, person, etype, ip, loc, ua=None, outcome="SUCCESS", reason=None,
             target=None, severity="INFO", sid=None, cred=None, step=0, actor=None, debug=None):
        ms = int(t * 1000)
        if not 0 <= ms < self.clock.end * 1000:
            return
        rng = self.r_okta
        msg, legacy = OKTA_MSG[etype]
        ua = ua or person.ua
        rec = {
            "uuid": uuid4(rng),
            "published": self.clock.iso_ms(ms),
            "eventType": etype,
            "version": "0",
            "severity": severity,
            "legacyEventType": legacy,
            "displayMessage": msg,
            "actor": actor or person.actor,
            "client": {"userAgent": {"rawUserAgent": ua[2], "os": ua[0], "browser": ua[1]},
                       "zone": "null", "device": "Mobile" if ua is MOBILE_UA else "Computer",
                       "id": None, "ipAddress": ip, "geographicalContext": GEO[loc]},
            "authenticationContext": {"authenticationProvider": None, "credentialProvider": None,
                                      "credentialType": cred, "issuer": None, "interface": None,
                                      "authenticationStep": step,
                                      "externalSessionId": sid or ("102" + b62(rng, 22))},
            "outcome": {"result": outcome, "reason": reason},
            "target": target or [],
            "transaction": {"type": "WEB", "id": b62(rng, 27), "detail": {}},
            "debugContext": {"debugData": debug or {"requestId": b62(rng, 27)}},
            "securityContext": {},
        }
        self.out.add("okta", ms, DUMPS(rec))

    def app_target(self, app, person):
        return [{"id": self.org.apps[app], "type": "AppInstance", "alternateId": app,
                 "displayName": app, "detailEntry": {"signOnModeType": "SAML_2_0"}},
                {"id": person.okta_id.replace("00u", "0ua", 1), "type": "AppUser",
                 "alternateId": person.email, "displayName": person.display, "detailEntry": None}]

    def okta_login(self, t, p, ip, loc, ua=None):
        """A sign-in: sometimes a wrong password first, then password + MFA; returns session."""
        rng = self.r_okta
        sid = "102" + b62(rng, 22)
        if rng.random() < 0.025:
            self.okta(t - rng.uniform(15, 120), p, "user.session.start", ip, loc, ua,
                      outcome="FAILURE", reason="INVALID_CREDENTIALS", severity="WARN",
                      sid="unknown", cred="PASSWORD")
        self.okta(t, p, "user.session.start", ip, loc, ua, sid=sid, cred="PASSWORD")
        self.okta(t + rng.uniform(4, 40), p, "user.authentication.auth_via_mfa", ip, loc, ua,
                  sid=sid, cred="OTP", step=1)
        return sid

    def okta_sso(self, t, p, app, ip, loc, sid, ua=None):
        self.okta(t, p, "user.authentication.sso", ip, loc, ua, target=self.app_target(app, p),
                  sid=sid, cred="ASSERTION")

    def okta_membership(self, t, admin, p, app):
        self.okta(t, admin, "application.user_membership.add", OFFICES["london"][0], "london",
                  target=[{"id": p.okta_id, "type": "User", "alternateId": p.email,
                           "displayName": p.display, "detailEntry": None},
                          {"id": self.org.apps[app], "type": "AppInstance", "alternateId": app,
                           "displayName": app, "detailEntry": None}])

    # ---------------------------------------------------------------- office 365
    def o365(self, t, p, op, rtype, workload, ip, object_id, extra, status="Succeeded",
             user_key=None, rng=None):
        t = int(t)
        if not 0 <= t < self.clock.end:
            return
        rec = {"CreationTime": self.clock.plain(t), "Id": uuid4(rng or self.r_o365), "Operation": op,
               "OrganizationId": ORG_ID, "RecordType": rtype, "ResultStatus": status,
               "UserKey": user_key or p.puid, "UserType": 0, "Version": 1, "Workload": workload,
               "ClientIP": ip, "UserId": p.email, "ObjectId": object_id}
        rec.update(extra)
        self.out.add("o365", t, DUMPS(rec))

    def file_op(self, t, p, op, site_name, ip, ua, file=None):
        rng = self.r_o365
        site = self.org.sites[site_name]
        fname, ext, folder, size = file or site["files"][rng.randrange(len(site["files"]))]
        if site_name == "OneDrive":
            url, workload = p.onedrive, "OneDrive"
        else:
            url, workload = site["url"], "SharePoint"
        rel = f"{folder}/{fname}"
        self.o365(t, p, op, 6, workload, ip, url + rel.replace(" ", "%20"), {
            "UserAgent": ua, "EventSource": "SharePoint", "ItemType": "File",
            "Site": site["id"], "SiteUrl": url, "SourceFileName": fname,
            "SourceFileExtension": ext, "SourceRelativeUrl": folder,
            "FileSizeBytes": size + rng.randrange(0, 4096)},
            user_key=f"i:0h.f|membership|{p.puid.lower()}@live.com")
        return fname

    def share_op(self, t, p, op, site_name, ip, ua, target=None, target_type=None):
        rng = self.r_o365
        site = self.org.sites[site_name]
        fname, ext, folder, _ = site["files"][rng.randrange(len(site["files"]))]
        url = p.onedrive if site_name == "OneDrive" else site["url"]
        extra = {"UserAgent": ua, "EventSource": "SharePoint", "ItemType": "File",
                 "Site": site["id"], "SiteUrl": url, "SourceFileName": fname,
                 "SourceFileExtension": ext, "SourceRelativeUrl": folder}
        if target:
            extra["TargetUserOrGroupName"] = target
            extra["TargetUserOrGroupType"] = target_type
        else:
            extra["EventData"] = "<Type>View</Type><MembersCanShareApplied>False</MembersCanShareApplied>"
        self.o365(t, p, op, 14, "OneDrive" if site_name == "OneDrive" else "SharePoint", ip,
                  url + f"{folder}/{fname}".replace(" ", "%20"), extra,
                  user_key=f"i:0h.f|membership|{p.puid.lower()}@live.com")

    def aad_login(self, t, p, ip, ua):
        app = self.r_o365.choice(["00000002-0000-0ff1-ce00-000000000000",
                                  "00000003-0000-0ff1-ce00-000000000000",
                                  "1fec8e78-bce4-4aaf-ab1b-5451cc387264"])
        self.o365(t, p, "UserLoggedIn", 15, "AzureActiveDirectory", ip, app, {
            "AzureActiveDirectoryEventType": 1,
            "Actor": [{"ID": p.aad_id, "Type": 0}, {"ID": p.email, "Type": 5}],
            "ActorContextId": ORG_ID, "ActorIpAddress": ip, "ApplicationId": app,
            "ExtendedProperties": [{"Name": "ResultStatusDetail", "Value": "Success"},
                                   {"Name": "UserAgent", "Value": ua},
                                   {"Name": "RequestType", "Value": "OAuth2:Authorize"}],
            "Target": [{"ID": app, "Type": 0}], "TargetContextId": ORG_ID},
            status="Success", user_key=p.aad_id)

    def mail_accessed(self, t, p, ip):
        rng = self.r_o365
        self.o365(t, p, "MailItemsAccessed", 50, "Exchange", ip, p.email, {
            "MailboxOwnerUPN": p.email, "LogonType": 0, "ExternalAccess": False,
            "ClientInfoString": rng.choice(["Client=OWA;Action=ViaProxy", "Client=REST;Client=RESTSystem;;",
                                            "Client=Microsoft Outlook 16.0"]),
            "OperationProperties": [{"Name": "MailAccessType", "Value": rng.choice(["Bind", "Sync"])},
                                    {"Name": "IsThrottled", "Value": "False"}],
            "OperationCount": 1 + poisson(rng, 6)})

    def mail_send(self, t, p, ip):
        rng = self.r_o365
        mid = f"<{hexid(rng, 16).upper()}@{TENANT}.prod.outlook.com>"
        self.o365(t, p, "Send", 2, "Exchange", ip, mid, {
            "MailboxOwnerUPN": p.email, "LogonType": 0, "ExternalAccess": False,
            "ClientInfoString": "Client=Microsoft Outlook 16.0",
            "Item": {"InternetMessageId": mid, "ParentFolder": {"Path": "\\Sent Items"},
                     "SizeInBytes": int(20_000 * math.exp(rng.gauss(0, 1.0))),
                     "Subject": rng.choice(MAIL_SUBJECTS)}})

    def ti_mail(self, t, p, sender, sender_ip, subject, verdict="NotSpam", action="Delivered",
                recipients=None, mid=None, nmid=None):
        rng = self.r_o365
        mid = mid or f"<{hexid(rng, 20)}@{sender.split('@')[1]}>"
        nmid = nmid or uuid4(rng)
        self.o365(t, p, "TIMailData", 28, "ThreatIntelligence", sender_ip, mid, {
            "InternetMessageId": mid, "NetworkMessageId": nmid, "MessageTime": self.clock.iso(t),
            "P1Sender": sender, "P2Sender": sender, "SenderIp": sender_ip,
            "Recipients": recipients or [p.email], "Subject": subject, "Directionality": "Inbound",
            "Verdict": verdict, "DeliveryAction": action,
            "DetectionMethod": None if verdict == "NotSpam" else rng.choice(
                ["Spoof DMARC", "URL detonation", "Advanced filter", "Fingerprint matching"])},
            status="Succeeded")
        return nmid

    def inbox_rule(self, t, p, ip, name, actions, rng):
        """An Exchange `New-InboxRule` admin-audit record: the rule's name and its actions
        (`[("MoveToFolder", "Invoices"), ("ForwardTo", "x@y")]`) as cmdlet parameters."""
        params = [{"Name": "Name", "Value": name}] + [{"Name": k, "Value": v} for k, v in actions]
        self.o365(t, p, "New-InboxRule", 1, "Exchange", f"{ip}:{rng.randrange(1024, 65535)}",
                  f"{p.email}\\{name}", {
                      "Parameters": params, "ExternalAccess": False,
                      "OrganizationName": f"{TENANT}.onmicrosoft.com",
                      "OriginatingServer": f"DB{rng.randrange(3, 9)}PR0{rng.randrange(1, 9)}MB{rng.randrange(1000, 9999)} (15.20.7918.025)",
                      "SessionId": uuid4(rng), "AppId": "00000002-0000-0ff1-ce00-000000000000"},
                  status="True", rng=rng)

    def ti_click(self, t, p, url, ip, source_id, app="Outlook", rng=None):
        self.o365(t, p, "TIUrlClickData", 41, "ThreatIntelligence", ip, url, {
            "Url": url, "UserIp": ip, "AppName": app, "SourceId": source_id,
            "TimeOfClick": self.clock.iso(t), "UrlClickAction": "Allowed"}, rng=rng)

    # ---------------------------------------------------------------- a person's day
    def person_day(self, p, day, busy):
        """Returns the day's context (windows, ip, location) after writing its SaaS events."""
        rng = self.r_day
        if day < p.join_day or (p.leave and p.leave[0] <= day <= p.leave[1]):
            return None
        dept = p.dept_on(day)
        cfg = DEPARTMENTS[dept]
        weekday = day % 7 < 5
        trip = p.trip_on(day)
        loc = trip[2] if trip else p.home
        off = self.clock.offset(LOCATIONS[loc][6], day)
        base = day * DAY - off * 3600
        windows = []
        if weekday:
            if rng.random() < 0.03 and day != p.join_day:
                return None  # sick day
            s = p.start_h + rng.gauss(0, 0.4) + (3.0 if trip and trip[0] == day else 0.0)
            e = s + max(4.0, p.len_h + rng.gauss(0, 0.5))
            windows.append((base + s * 3600, base + e * 3600, 1.0))
            if rng.random() < 0.12:
                s2 = rng.uniform(20.0, 22.0)
                windows.append((base + s2 * 3600, base + (s2 + rng.uniform(0.3, 1.2)) * 3600, 0.15))
        elif rng.random() < cfg["weekend"] * (1.5 if trip else 1.0):
            s = rng.uniform(10.0, 19.0)
            windows.append((base + s * 3600, base + (s + rng.uniform(0.5, 2.0)) * 3600, 0.25))
        if not windows:
            return None
        if trip:
            ip = trip[3]
        elif weekday and rng.random() < p.office_p:
            ip = rng.choice(OFFICES[p.home])
        else:
            if rng.random() < 0.03:
                p.home_ip = public_ip(rng, LOCATIONS[p.home][7])  # ISP re-assigned the address
            ip = p.home_ip
        ctx = {"windows": windows, "ip": ip, "loc": loc, "dept": dept, "weekday": weekday}
        apps = p.apps_on(day)
        for a, b, scale in windows:
            self.saas_window(p, day, a, b, scale, ip, loc, dept, apps, busy)
        return ctx

    def saas_window(self, p, day, a, b, scale, ip, loc, dept, apps, busy):
        rng = self.r_day
        cfg = DEPARTMENTS[dept]
        span = b - a
        sid = self.okta_login(a, p, ip, loc)
        if scale >= 1.0 and rng.random() < 0.3:
            self.okta_login(a + span * rng.uniform(0.4, 0.6), p, ip, loc)
        for app, prob in apps.items():
            if rng.random() < prob * (1.0 if scale >= 1.0 else scale * 2):
                n = 1 + poisson(rng, 0.8 if prob > 0.8 else 0.3)
                if app == "Microsoft Office 365":
                    n = 1
                for _ in range(n):
                    self.okta_sso(a + 30 + rng.random() * span, p, app, ip, loc, sid)
        if rng.random() < 0.008 * scale:
            # Rare but benign: a tool outside the usual set (never Box for finance).
            app = rng.choice([x for x in ALL_APPS if x not in apps
                              and not (dept == "finance" and x == "Box")])
            self.okta_sso(a + rng.random() * span, p, app, ip, loc, sid)
        if rng.random() < 0.004:
            self.okta(a + rng.random() * span, p, "user.account.update_password", ip, loc,
                      sid=sid, cred="PASSWORD")
        if scale >= 1.0 and rng.random() < 0.15:
            self.okta(b + rng.uniform(0, 600), p, "user.session.end", ip, loc, sid=sid)
        # Microsoft 365: sign-ins, mail, files, sharing, threat intelligence.
        ua = p.ua[2]
        mobile_ip = public_ip(rng, LOCATIONS[loc][7])
        self.aad_login(a + 60 + rng.random() * 60, p, ip, ua)
        for _ in range(poisson(rng, 1.2 * scale)):
            self.aad_login(a + rng.random() * span, p, mobile_ip, MOBILE_UA[2])
        for _ in range(poisson(rng, 11 * scale * p.activity)):
            self.mail_accessed(a + rng.random() * span, p, ip if rng.random() < 0.8 else mobile_ip)
        for _ in range(poisson(rng, cfg["mail"] * scale * p.activity)):
            self.mail_send(a + rng.random() * span, p, ip)
        hours = span / 3600
        n_files = poisson(rng, 1.5 * cfg["fph"] * hours * p.activity * busy.get(dept, 1.0) * min(1.0, scale * 2))
        sites = cfg["sites"]
        for _ in range(n_files):
            r = rng.random()
            site = "OneDrive" if r < 0.2 else sites[0] if r < 0.65 else rng.choice(sites)
            if rng.random() < 0.004:
                site = rng.choice(list(self.org.sites))  # an occasional other team's site
            op = weighted(rng, [("FileAccessed", 55), ("FileModified", 18), ("FileDownloaded", 14),
                                ("FileUploaded", 8), ("FilePreviewed", 5)])
            fua = SYNC_UA if op in ("FileUploaded", "FileModified") and rng.random() < 0.5 else ua
            self.file_op(a + rng.random() * span, p, op, site, ip, fua)
        if rng.random() < cfg["share_ext"] * scale:
            kind = "lawfirm" if dept == "legal" else "agency" if dept == "marketing" else "customer"
            dom = rng.choice(PARTNER_DOMAINS[kind])
            self.share_op(a + rng.random() * span, p, "SharingInvitationCreated", sites[0], ip, ua,
                          f"{rng.choice(FIRST).lower()}.{rng.choice(LAST).lower()}@{dom}", "Guest")
        if rng.random() < 0.08 * scale:
            peer = self.org.people[rng.randrange(len(self.org.people))]
            self.share_op(a + rng.random() * span, p, "SharingSet", rng.choice(sites + ["OneDrive"]),
                          ip, ua, peer.email, "Member")
        if dept == "marketing" and rng.random() < 0.05 * scale:
            self.share_op(a + rng.random() * span, p, "AnonymousLinkCreated", "Brand", ip, ua)
        # Inbound external mail seen by Defender, and link clicks on the usual domains.
        for _ in range(poisson(rng, 2.0 * scale)):
            t = a + rng.random() * span
            kind = rng.choice(DEPARTMENTS[dept]["senders"])
            if kind == "supplier" or kind == "bank":
                if kind == "supplier":
                    sender, sip, subj = rng.choice(SUPPLIERS)
                    subj = f"{subj} {rng.choice(['INV', 'ST'])}-{rng.randrange(10000, 99999)}"
                else:
                    sender, sip, subj = "alerts@" + PARTNER_DOMAINS["bank"][0], "51.140.12.9", "Payment notification"
            else:
                dom = rng.choice(PARTNER_DOMAINS[kind])
                sender = f"{rng.choice(FIRST).lower()}@{dom}"
                sip = f"40.107.{rng.randrange(256)}.{rng.randrange(1, 255)}"
                subj = rng.choice(MAIL_SUBJECTS)
            verdict, action = weighted(rng, [(("NotSpam", "Delivered"), 93), (("Spam", "Junked"), 5),
                                             (("Phish", "Blocked"), 1.5), (("Malware", "Blocked"), 0.5)])
            nmid = self.ti_mail(t, p, sender, sip, subj, verdict, action)
            if verdict == "NotSpam" and kind == "supplier" and rng.random() < 0.25:
                host = "portal.northwindtraders.com" if "northwind" in sender else "track.contoso-logistics.com"
                self.ti_click(t + rng.uniform(60, 3600), p,
                              f"https://{host}/invoices/{rng.randrange(10000, 99999)}", ip, nmid)
            # People open the links in their partners' mail: each sender's usual hosts,
            # and now and then one it never sent before (a webinar, a new portal) —
            # often for newsletters, seldom for a supplier's invoices.
            mr = self.r_mailclicks
            if verdict == "NotSpam" and mr.random() < (0.5 if kind in ("supplier", "bank") else 0.3):
                sdom = sender.split("@")[1]
                if mr.random() < NEW_LINK_RATE.get(kind, 0.015):
                    host = (f"{mr.choice(['events', 'go', 'portal', 'info'])}."
                            f"{mr.choice(RARE_WORDS)}{mr.choice(RARE_WORDS)}.com")
                elif kind == "supplier":
                    host = mr.choice(SUPPLIER_LINKS.get(sdom, [f"www.{sdom}"]))
                else:
                    host = mr.choice(SENDER_LINKS.get(kind, ["www.{d}"])).format(
                        d=sdom, s=sdom.split(".")[0])
                self.ti_click(t + mr.uniform(60, 5400), p, f"https://{host}/{b62(mr, 10)}", ip,
                              nmid, rng=mr)
        for _ in range(poisson(rng, 1.1 * scale)):
            t = a + rng.random() * span
            if rng.random() < 0.3:
                dom = rng.choice(DEPT_CLICKS[dept])
            elif rng.random() < 0.015:
                # Rare but benign: a one-off newsletter, webinar or event page.
                dom = (f"{rng.choice(['go', 'events', 'info', 'email', 'www'])}."
                       f"{rng.choice(RARE_WORDS)}{rng.choice(RARE_WORDS)}.com")
            else:
                dom = weighted(rng, self.org.click_pool)
            self.ti_click(t, p, f"https://{dom}/{b62(rng, 8)}", ip, uuid4(rng),
                          app="Teams" if rng.random() < 0.3 else "Outlook")
        # Now and then someone files mail with an inbox rule; rarely one forwards, to a
        # colleague covering for them or (rarer) to a private address.
        rr = self.r_rules
        if rr.random() < 0.006 * scale:
            t = a + rr.random() * span
            folder = rr.choice(["Invoices", "Newsletters", "Receipts", "Tickets", "Projects", "FYI"])
            r = rr.random()
            if r < 0.12:
                colleague = self.org.people[rr.randrange(len(self.org.people))]
                actions = [("ForwardTo", colleague.email)]
            elif r < 0.16:
                actions = [("ForwardTo", f"{p.email.split('@')[0].replace('.', '')}{rr.randrange(10, 99)}@gmail.com")]
            else:
                actions = [("MoveToFolder", folder)]
            if rr.random() < 0.5:
                actions.append(("From", rr.choice(["noreply", "notifications", "billing", "jira"])))
            self.inbox_rule(t, p, ip, f"{folder} rule", actions, rr)

    # ---------------------------------------------------------------- AWS CloudTrail
    def ct(self, t, ui, source, name, region, ip, ua, rp=None, resp=None, read_only=True,
           acct=PROD, s3=None, err=None, service_event=False):
        """One CloudTrail record; `s3` = (bucket, key, bytes in, bytes out) makes a data event."""
        t = int(t)
        if not 0 <= t < self.clock.end:
            return
        rng = self.r_aws
        rec = {"eventVersion": "1.10" if s3 else "1.09", "userIdentity": ui,
               "eventTime": self.clock.iso(t), "eventSource": source, "eventName": name,
               "awsRegion": region, "sourceIPAddress": ip, "userAgent": ua}
        if err:
            rec["errorCode"], rec["errorMessage"] = err
        if s3:
            bucket, key, b_in, b_out = s3
            rec["requestParameters"] = {"bucketName": bucket, "Host": f"{bucket}.s3.{region}.amazonaws.com",
                                        "key": key}
            rec["responseElements"] = None
            rec["additionalEventData"] = {"SignatureVersion": "SigV4",
                                          "CipherSuite": "TLS_AES_128_GCM_SHA256",
                                          "bytesTransferredIn": b_in, "AuthenticationMethod": "AuthHeader",
                                          "bytesTransferredOut": b_out}
        else:
            rec["requestParameters"] = rp
            rec["responseElements"] = resp
        rec["requestID"] = hexid(rng, 16).upper() if s3 else uuid4(rng)
        rec["eventID"] = uuid4(rng)
        rec["readOnly"] = read_only
        if s3:
            rec["resources"] = [{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
                                {"accountId": acct, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}]
        rec["eventType"] = "AwsServiceEvent" if service_event else "AwsApiCall"
        rec["managementEvent"] = not s3
        rec["recipientAccountId"] = acct
        rec["eventCategory"] = "Data" if s3 else "Management"
        if not service_event and not ip.endswith(".amazonaws.com"):
            host = f"{s3[0]}.s3.{region}.amazonaws.com" if s3 else f"{source.split('.')[0]}.{region}.amazonaws.com"
            rec["tlsDetails"] = {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                                 "clientProvidedHostHeader": host}
        self.out.add("ct", t, DUMPS(rec))


def iam_user_ui(name, acct=PROD):
    """An IAM user's identity block; ids are stable per name (a long-lived access key)."""
    digest = hashlib.sha256(name.encode()).hexdigest().upper()
    return {"type": "IAMUser", "principalId": "AIDA" + digest[:17], "arn": f"arn:aws:iam::{acct}:user/{name}",
            "accountId": acct, "accessKeyId": "AKIA" + digest[17:33], "userName": name}


def role_arn(acct, name, path=""):
    return f"arn:aws:iam::{acct}:role/{path}{name}"


def role_ui(rng, acct, name, session, created, path="", invoked_by=None):
    """A role session's identity block: the role id is stable, the session key is not."""
    rid = "AROA" + hashlib.sha256(f"{acct}/{name}".encode()).hexdigest().upper()[:17]
    ui = {"type": "AssumedRole", "principalId": f"{rid}:{session}",
          "arn": f"arn:aws:sts::{acct}:assumed-role/{name}/{session}", "accountId": acct,
          "accessKeyId": "ASIA" + b62(rng, 16).upper(),
          "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": rid,
                                               "arn": role_arn(acct, name, path),
                                               "accountId": acct, "userName": name},
                             "webIdFederationData": {},
                             "attributes": {"creationDate": created, "mfaAuthenticated": "false"}}}
    if invoked_by:
        ui["invokedBy"] = invoked_by
    return ui


# (eventSource, eventName, readOnly, weight); regions pick eu-west-1 mostly
ENG_CALLS = [("ec2.amazonaws.com", "DescribeInstances", True, 12),
             ("ec2.amazonaws.com", "DescribeSecurityGroups", True, 4),
             ("ec2.amazonaws.com", "DescribeVpcs", True, 2),
             ("ecs.amazonaws.com", "DescribeServices", True, 8),
             ("ecs.amazonaws.com", "ListTasks", True, 5),
             ("ecs.amazonaws.com", "DescribeTasks", True, 5),
             ("logs.amazonaws.com", "FilterLogEvents", True, 10),
             ("logs.amazonaws.com", "GetLogEvents", True, 6),
             ("logs.amazonaws.com", "DescribeLogGroups", True, 3),
             ("monitoring.amazonaws.com", "GetMetricData", True, 5),
             ("s3.amazonaws.com", "ListBuckets", True, 3),
             ("lambda.amazonaws.com", "ListFunctions20150331", True, 2),
             ("lambda.amazonaws.com", "GetFunction20150331v2", True, 2),
             ("sts.amazonaws.com", "GetCallerIdentity", True, 4),
             ("ssm.amazonaws.com", "GetParameter", True, 4),
             ("rds.amazonaws.com", "DescribeDBInstances", True, 2),
             ("ecr.amazonaws.com", "DescribeRepositories", True, 2),
             ("cloudformation.amazonaws.com", "DescribeStacks", True, 3),
             ("ecs.amazonaws.com", "UpdateService", False, 1),
             ("ssm.amazonaws.com", "PutParameter", False, 0.5),
             ("ec2.amazonaws.com", "CreateTags", False, 0.5)]
IT_CALLS = [("iam.amazonaws.com", "ListUsers", True, 8), ("iam.amazonaws.com", "GetUser", True, 5),
            ("iam.amazonaws.com", "ListAccessKeys", True, 5),
            ("iam.amazonaws.com", "ListAttachedUserPolicies", True, 4),
            ("iam.amazonaws.com", "GetAccountPasswordPolicy", True, 1),
            ("ec2.amazonaws.com", "DescribeInstances", True, 6),
            ("s3.amazonaws.com", "ListBuckets", True, 3),
            ("s3.amazonaws.com", "GetBucketPolicy", True, 2),
            ("cloudtrail.amazonaws.com", "LookupEvents", True, 4),
            ("guardduty.amazonaws.com", "ListFindings", True, 4),
            ("config.amazonaws.com", "DescribeComplianceByConfigRule", True, 2),
            ("sts.amazonaws.com", "GetCallerIdentity", True, 2),
            ("iam.amazonaws.com", "CreateUser", False, 0.15),
            ("iam.amazonaws.com", "AttachUserPolicy", False, 0.15),
            ("iam.amazonaws.com", "CreateAccessKey", False, 0.1),
            ("iam.amazonaws.com", "UpdateAccessKey", False, 0.1)]
GLOBAL_SERVICES = ("iam.amazonaws.com", "sts.amazonaws.com", "ce.amazonaws.com")
CLI_UAS = ["aws-cli/2.17.{} md/awscrt#0.20.11 ua/2.0 os/macos#23.6.0 md/arch#arm64 lang/python#3.11.9 "
           "md/pyimpl#CPython cfg/retry-mode#standard md/installer#source md/prompt#off",
           "aws-cli/2.17.{} md/awscrt#0.20.11 ua/2.0 os/linux#6.8.0 md/arch#x86_64 lang/python#3.11.9 "
           "md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/prompt#off"]
CONSOLE_UA = "AWS Internal"
GITHUB_RUNNERS = [(4, 175), (20, 29), (52, 234), (20, 81)]
DATADOG_IPS = ["3.233.146.21", "3.233.146.96", "3.233.147.128"]


def diurnal(hour, weekday):
    """Customer-facing load by UTC hour: most customers are in Europe."""
    f = 0.25 + 0.75 * math.exp(-(((hour - 13.0) / 4.5) ** 2))
    return f if weekday else f * 0.7


APP_UA = ("aws-sdk-java/2.25.60 Linux/5.10.219-208.866.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.11+9-LTS "
          "Java/17.0.11 vendor/Amazon.com_Inc. exec-env/AWS_ECS_FARGATE")
PY_UA = ("Boto3/1.34.144 md/Botocore#1.34.144 ua/2.0 os/linux#5.10.220 md/arch#x86_64 lang/python#3.11.9 "
         "md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.144")
NODE_UA = "aws-sdk-js/3.637.0 ua/2.0 os/linux#5.10.221 lang/js md/nodejs#20.16.0 api/s3#3.637.0 exec-env/AWS_Lambda_nodejs20.x"
SDK_GO_UA = "aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64 api/cloudwatch#1.40.3"


class Aws:
    """The AWS estate: about 40 identities with their own call sets, buckets and schedules."""

    def __init__(self, org, streams, seed):
        self.org, self.s = org, streams
        self.rng = random.Random(f"{seed}/aws-plan")
        self.app_ips = [f"10.0.2.{10 + i}" for i in range(8)]
        self.batch_ips = [f"10.0.2.{30 + i}" for i in range(4)]
        self.lambda_ips = [f"3.250.{self.rng.randrange(256)}.{self.rng.randrange(1, 255)}" for _ in range(6)]
        self.uas = {p.iam: CLI_UAS[i % 2].format(20 + i % 9) for i, p in enumerate(org.iam_people)}
        self.roles = {
            "web-app-task": PROD, "orders-service": PROD, "logs-firehose-delivery": PROD,
            "DatadogIntegrationRole": PROD, "github-actions-deployer": PROD, "backup-runner": PROD,
            "data-pipeline-etl": PROD, "image-thumbnailer-lambda": PROD, "cost-reporter": PROD,
            "terraform-admin": PROD, "integration-test-runner": DEV,
        }
        self.service_roles = {
            "AWSServiceRoleForConfig": "aws-service-role/config.amazonaws.com/",
            "AWSServiceRoleForAutoScaling": "aws-service-role/autoscaling.amazonaws.com/",
        }

    def identities(self):
        rows = [{"arn": f"arn:aws:iam::{PROD}:user/{p.iam}", "type": "IAMUser", "owner": p.email,
                 "entity_key": f"aws_user:arn:aws:iam::{PROD}:user/{p.iam}"} for p in self.org.iam_people]
        for name, acct in self.roles.items():
            rows.append({"arn": role_arn(acct, name), "type": "Role", "owner": None,
                         "entity_key": f"aws_user:{role_arn(acct, name)}"})
        for name, path in self.service_roles.items():
            rows.append({"arn": role_arn(PROD, name, path), "type": "ServiceLinkedRole", "owner": None,
                         "entity_key": f"aws_user:{role_arn(PROD, name, path)}"})
        rows.append({"arn": f"arn:aws:iam::{DEV}:root", "type": "Root", "owner": None,
                     "entity_key": f"aws_user:arn:aws:iam::{DEV}:root"})
        return rows

    def ui(self, name, session, t, invoked_by=None):
        acct = self.roles.get(name, PROD)
        return role_ui(self.s.r_aws, acct, name, session, self.s.clock.iso(t),
                       self.service_roles.get(name, ""), invoked_by)

    # ------------------------------------------------------------ people with IAM users
    def human(self, p, day, ctx, release):
        s, rng = self.s, self.s.r_aws
        ui = iam_user_ui(p.iam)
        is_it = p.dept0 == "it"
        calls = IT_CALLS if is_it else ENG_CALLS
        weights = [c[3] for c in calls]
        ua = self.uas[p.iam]
        for a, b, scale in ctx["windows"]:
            if rng.random() > (0.75 if scale >= 1 else 0.3):
                continue
            lam = (15 if is_it else 25) * p.activity * scale * (1.5 if release and not is_it else 1.0)
            if rng.random() < 0.12:
                lam *= 3  # a debugging afternoon
            n = poisson(rng, lam)
            if n and rng.random() < 0.3:
                s.ct(a + rng.random() * 600, ui, "signin.amazonaws.com", "ConsoleLogin", "us-east-1",
                     ctx["ip"], p.ua[2], None, {"ConsoleLogin": "Success"}, False)
            times = sorted(a + rng.random() * (b - a) for _ in range(n))
            for t, call in zip(times, rng.choices(calls, weights, k=n)):
                src, name, ro = call[0], call[1], call[2]
                region = "us-east-1" if src in GLOBAL_SERVICES or rng.random() < 0.15 else "eu-west-1"
                err = ("AccessDenied", f"User: {ui['arn']} is not authorized to perform: "
                       f"{src.split('.')[0]}:{name}") if rng.random() < 0.02 else None
                s.ct(t, ui, src, name, region, ctx["ip"], ua, None, None, ro, err=err)
            if not is_it and rng.random() < 0.01 * scale:
                # Rare but benign: a small test instance in the usual region.
                s.ct(b - 1800, ui, "ec2.amazonaws.com", "RunInstances", "eu-west-1", ctx["ip"], ua,
                     {"instanceType": "t3.medium", "instancesSet": {"items": [{"imageId": "ami-0c1c30571d2dae5c9",
                                                                             "minCount": 1, "maxCount": 1}]}},
                     {"instancesSet": {"items": [{"instanceId": "i-" + hexid(rng, 17),
                                                  "instanceType": "t3.medium"}]}}, False)

    # ------------------------------------------------------------ roles, by UTC day
    def roles_day(self, day, release):
        s, rng = self.s, self.s.r_aws
        d0 = day * DAY
        weekday = day % 7 < 5
        web = self.ui("web-app-task", "ecs-task-" + hexid(rng, 32), d0)
        orders = self.ui("orders-service", "ecs-task-" + hexid(rng, 32), d0)
        thumb = self.ui("image-thumbnailer-lambda", "image-thumbnailer", d0)
        for h in range(24):
            f = diurnal(h, weekday)
            for _ in range(poisson(rng, 110 * f)):
                t = d0 + h * 3600 + rng.random() * 3600
                ip = rng.choice(self.app_ips)
                r = rng.random()
                if r < 0.35:
                    s.ct(t, web, "kms.amazonaws.com", "Decrypt", "eu-west-1", ip, APP_UA,
                         {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"}, None)
                elif r < 0.45:
                    s.ct(t, web, "secretsmanager.amazonaws.com", "GetSecretValue", "eu-west-1", ip, APP_UA,
                         {"secretId": "prod/web/db-credentials"}, None)
                elif r < 0.9:
                    s.ct(t, web, "s3.amazonaws.com", "GetObject", "eu-west-1", ip, APP_UA,
                         s3=("acme-prod-assets", f"static/{b62(rng, 10)}.webp", 0,
                             int(80_000 * math.exp(rng.gauss(0, 1.0)))))
                else:
                    s.ct(t, web, "s3.amazonaws.com", "PutObject", "eu-west-1", ip, APP_UA, read_only=False,
                         s3=("acme-prod-uploads", f"user-uploads/{uuid4(rng)}.jpg",
                             int(400_000 * math.exp(rng.gauss(0, 0.8))), 0))
            for _ in range(poisson(rng, 30 * f)):
                t = d0 + h * 3600 + rng.random() * 3600
                ip = rng.choice(self.app_ips[:4])
                r = rng.random()
                if r < 0.4:
                    s.ct(t, orders, "kms.amazonaws.com", "GenerateDataKey", "eu-west-1", ip, APP_UA,
                         {"keySpec": "AES_256"}, None)
                elif r < 0.85:
                    s.ct(t, orders, "s3.amazonaws.com", "PutObject", "eu-west-1", ip, APP_UA, read_only=False,
                         s3=("acme-invoices", f"2026/{uuid4(rng)}.pdf", int(60_000 * math.exp(rng.gauss(0, 0.4))), 0))
                else:
                    s.ct(t, orders, "secretsmanager.amazonaws.com", "GetSecretValue", "eu-west-1", ip, APP_UA,
                         {"secretId": "prod/orders/stripe-key"}, None)
            for _ in range(poisson(rng, 10 * f)):
                t = d0 + h * 3600 + rng.random() * 3600
                ip = rng.choice(self.lambda_ips)
                key = f"user-uploads/{uuid4(rng)}.jpg"
                s.ct(t, thumb, "s3.amazonaws.com", "GetObject", "eu-west-1", ip, NODE_UA,
                     s3=("acme-prod-uploads", key, 0, int(400_000 * math.exp(rng.gauss(0, 0.8)))))
                s.ct(t + rng.uniform(0.5, 3), thumb, "s3.amazonaws.com", "PutObject", "eu-west-1", ip, NODE_UA,
                     read_only=False, s3=("acme-prod-assets", key.replace("user-uploads", "thumbs"),
                                          int(30_000 * math.exp(rng.gauss(0, 0.5))), 0))
        # Firehose delivery to the log bucket, every few minutes all day.
        fh = self.ui("logs-firehose-delivery", "AWSFirehoseToS3", d0, "firehose.amazonaws.com")
        t = d0 + rng.uniform(0, 60)
        while t < d0 + DAY:
            s.ct(t, fh, "s3.amazonaws.com", "PutObject", "eu-west-1", "firehose.amazonaws.com",
                 "firehose.amazonaws.com", read_only=False,
                 s3=("acme-logs", f"firehose/{self.s.clock.dates[day].replace('-', '/')}/{int(t) % DAY // 3600:02d}/"
                                  f"app-logs-{b62(rng, 12)}.gz", int(3_000_000 * math.exp(rng.gauss(0, 0.5))), 0))
            t += rng.uniform(45, 75)
        # Datadog polls metrics and inventory every 10 minutes.
        dd = self.ui("DatadogIntegrationRole", "DatadogAWSIntegration", d0)
        for i in range(144):
            t = d0 + i * 600 + rng.uniform(0, 30)
            ip = rng.choice(DATADOG_IPS)
            s.ct(t, dd, "monitoring.amazonaws.com", "GetMetricData", "eu-west-1", ip, SDK_GO_UA, None, None)
            s.ct(t + 2, dd, "ec2.amazonaws.com", "DescribeInstances", "eu-west-1", ip, SDK_GO_UA, None, None)
            if i % 2 == 0:
                s.ct(t + 4, dd, "monitoring.amazonaws.com", "GetMetricData", "us-east-1", ip, SDK_GO_UA, None, None)
            if i % 6 == 0:
                s.ct(t + 6, dd, "tagging.amazonaws.com", "GetResources", "eu-west-1", ip, SDK_GO_UA, None, None)
        # AWS Config records the inventory every hour in both regions.
        cfg = self.ui("AWSServiceRoleForConfig", "AWSConfig-Describe", d0, "config.amazonaws.com")
        for h in range(24):
            for region in ("eu-west-1", "us-east-1"):
                t = d0 + h * 3600 + rng.uniform(0, 300)
                for call in ("DescribeInstances", "DescribeSecurityGroups", "DescribeVolumes"):
                    s.ct(t, cfg, "ec2.amazonaws.com", call, region, "config.amazonaws.com",
                         "config.amazonaws.com", None, None)
                    t += rng.uniform(1, 20)
        self.deployments(day, weekday, release)
        self.nightly(day)
        self.scaling(day, weekday)
        # Cost report lambda, once a day in us-east-1 (Cost Explorer is global there).
        cr = self.ui("cost-reporter", "cost-reporter", d0)
        for k in range(3):
            s.ct(d0 + 6 * 3600 + 300 + k * 4, cr, "ce.amazonaws.com", "GetCostAndUsage", "us-east-1",
                 self.lambda_ips[0], PY_UA, {"granularity": "DAILY"}, None)
        if weekday:
            self.test_runs(day)
            self.terraform(day)

    def deployments(self, day, weekday, release):
        s, rng = self.s, self.s.r_aws
        n = poisson(rng, (7 if weekday else 0.5) * (3 if release else 1))
        for _ in range(n):
            t = day * DAY + rng.uniform(4.5, 18.0) * 3600
            ip = public_ip(rng, GITHUB_RUNNERS)
            ui = self.ui("github-actions-deployer", "GitHubActions", t)
            service = rng.choice(["web", "orders", "search", "billing", "notifications"])
            steps = [("ecr.amazonaws.com", "GetAuthorizationToken", True, None),
                     ("ecr.amazonaws.com", "BatchCheckLayerAvailability", True, None),
                     ("ecr.amazonaws.com", "InitiateLayerUpload", False, None),
                     ("ecr.amazonaws.com", "CompleteLayerUpload", False, None),
                     ("ecr.amazonaws.com", "PutImage", False, {"repositoryName": service}),
                     ("s3.amazonaws.com", "PutObject", False, "artifact"),
                     ("ecs.amazonaws.com", "RegisterTaskDefinition", False, {"family": service}),
                     ("ecs.amazonaws.com", "UpdateService", False, {"service": service, "cluster": "prod"}),
                     ("ecs.amazonaws.com", "DescribeServices", True, None),
                     ("ecs.amazonaws.com", "DescribeServices", True, None),
                     ("cloudformation.amazonaws.com", "DescribeStacks", True, None)]
            for src, name, ro, rp in steps:
                t += rng.uniform(5, 40)
                if rp == "artifact":
                    s.ct(t, ui, src, name, "eu-west-1", ip, "aws-cli/2.17.20 md/installer#exe os/linux#6.5.0-1025-azure",
                         read_only=False, s3=("acme-ci-artifacts", f"{service}/{hexid(rng, 40)}.tar.gz",
                                              int(30_000_000 * math.exp(rng.gauss(0, 0.5))), 0))
                else:
                    s.ct(t, ui, src, name, "eu-west-1", ip, "aws-cli/2.17.20 md/installer#exe os/linux#6.5.0-1025-azure",
                         rp, None, ro)

    def nightly(self, day):
        s, rng = self.s, self.s.r_aws
        d0 = day * DAY
        # Backups: snapshots and dumps to the backup bucket, 01:00-02:30 UTC.
        t = d0 + 3600 + rng.uniform(0, 300)
        bk = self.ui("backup-runner", "backup-runner", t)
        for db in ("orders-db", "users-db", "billing-db", "search-db"):
            s.ct(t, bk, "rds.amazonaws.com", "CreateDBSnapshot", "eu-west-1", "backup.amazonaws.com",
                 "backup.amazonaws.com", {"dBInstanceIdentifier": db, "dBSnapshotIdentifier":
                                          f"{db}-{self.s.clock.dates[day]}"}, None, False)
            t += rng.uniform(20, 90)
        for _ in range(8):
            s.ct(t, bk, "ec2.amazonaws.com", "CreateSnapshot", "eu-west-1", "backup.amazonaws.com",
                 "backup.amazonaws.com", {"volumeId": "vol-" + hexid(rng, 17)}, None, False)
            s.ct(t + 5, bk, "ec2.amazonaws.com", "DeleteSnapshot", "eu-west-1", "backup.amazonaws.com",
                 "backup.amazonaws.com", {"snapshotId": "snap-" + hexid(rng, 17)}, None, False)
            t += rng.uniform(10, 60)
        for _ in range(30 + rng.randrange(20)):
            s.ct(t, bk, "s3.amazonaws.com", "PutObject", "eu-west-1", "10.0.4.30", PY_UA, read_only=False,
                 s3=("acme-backups", f"pg/{self.s.clock.dates[day]}/{b62(rng, 8)}.dump.gz",
                     int(300_000_000 * math.exp(rng.gauss(0, 0.7))), 0))
            t += rng.uniform(30, 150)
        for _ in range(4):
            s.ct(t, {"accountId": PROD, "invokedBy": "backup.amazonaws.com"}, "backup.amazonaws.com",
                 "BackupJobCompleted", "eu-west-1", "backup.amazonaws.com", "backup.amazonaws.com",
                 None, None, False, service_event=True)
            t += rng.uniform(1, 30)
        # ETL: read production data, write the analytics lake, 02:00-04:30 UTC.
        t = d0 + 2 * 3600 + rng.uniform(0, 600)
        etl = self.ui("data-pipeline-etl", "etl-" + self.s.clock.dates[day], t)
        ip = rng.choice(self.batch_ips)
        for job in ("orders-daily", "customers-daily", "events-rollup"):
            s.ct(t, etl, "glue.amazonaws.com", "StartJobRun", "eu-west-1", ip, PY_UA, {"jobName": job}, None, False)
            t += rng.uniform(5, 30)
        n_objects = 160 + rng.randrange(80) + (200 if day % 7 == 6 else 0)
        for k in range(n_objects):
            table = rng.choice(["orders", "customers", "events", "payments"])
            key = f"warehouse/{table}/dt={self.s.clock.dates[day - 1]}/part-{k:05d}.parquet"
            s.ct(t, etl, "s3.amazonaws.com", "GetObject", "eu-west-1", ip, PY_UA,
                 s3=("acme-prod-data", key, 0, int(8_000_000 * math.exp(rng.gauss(0, 0.9)))))
            if rng.random() < 0.5:
                s.ct(t + rng.uniform(1, 8), etl, "s3.amazonaws.com", "PutObject", "eu-west-1", ip, PY_UA,
                     read_only=False, s3=("acme-analytics-lake", key.replace("warehouse", "curated"),
                                          int(3_000_000 * math.exp(rng.gauss(0, 0.9))), 0))
            if rng.random() < 0.1:
                s.ct(t + 2, etl, "glue.amazonaws.com", "GetJobRun", "eu-west-1", ip, PY_UA, None, None)
            t += rng.uniform(10, 45)
        for _ in range(6):
            s.ct(t, etl, "athena.amazonaws.com", "StartQueryExecution", "eu-west-1", ip, PY_UA,
                 {"workGroup": "etl"}, None, False)
            for _ in range(3):
                t += rng.uniform(3, 20)
                s.ct(t, etl, "athena.amazonaws.com", "GetQueryExecution", "eu-west-1", ip, PY_UA, None, None)

    def scaling(self, day, weekday):
        s, rng = self.s, self.s.r_aws
        n = rng.randrange(2, 5) if weekday else 1
        t = day * DAY + 7 * 3600 + rng.uniform(-1200, 1200)
        ui = self.ui("AWSServiceRoleForAutoScaling", "AutoScaling", t, "autoscaling.amazonaws.com")
        ids = ["i-" + hexid(rng, 17) for _ in range(n)]
        for iid in ids:
            s.ct(t, ui, "ec2.amazonaws.com", "RunInstances", "eu-west-1", "autoscaling.amazonaws.com",
                 "autoscaling.amazonaws.com",
                 {"instanceType": "c5.xlarge", "instancesSet": {"items": [{"minCount": 1, "maxCount": 1}]},
                  "launchTemplate": {"launchTemplateName": "web-asg"}},
                 {"instancesSet": {"items": [{"instanceId": iid, "instanceType": "c5.xlarge"}]}}, False)
            t += rng.uniform(1, 10)
        t = day * DAY + 20 * 3600 + rng.uniform(-1200, 1200)
        for iid in ids:
            s.ct(t, ui, "ec2.amazonaws.com", "TerminateInstances", "eu-west-1", "autoscaling.amazonaws.com",
                 "autoscaling.amazonaws.com", {"instancesSet": {"items": [{"instanceId": iid}]}}, None, False)
            t += rng.uniform(1, 10)

    def test_runs(self, day):
        s, rng = self.s, self.s.r_aws
        for _ in range(poisson(rng, 5)):
            t = day * DAY + rng.uniform(7.0, 18.0) * 3600
            ip = public_ip(rng, GITHUB_RUNNERS)
            ui = self.ui("integration-test-runner", "GitHubActions", t)
            run = hexid(rng, 8)
            for k in range(20 + rng.randrange(20)):
                key = f"it/{run}/fixture-{k:03d}.json"
                op = rng.choice(["PutObject", "GetObject", "GetObject", "DeleteObject"])
                size = int(200_000 * math.exp(rng.gauss(0, 1)))
                s.ct(t, ui, "s3.amazonaws.com", op, "eu-west-1", ip, PY_UA, read_only=op == "GetObject",
                     acct=DEV, s3=("acme-test-data", key, size if op == "PutObject" else 0,
                                   size if op == "GetObject" else 0))
                t += rng.uniform(0.5, 6)

    def terraform(self, day):
        s, rng = self.s, self.s.r_aws
        admins = [p for p in self.org.iam_people if p.dept0 == "it"] or self.org.iam_people
        for _ in range(poisson(rng, 0.8)):
            who = rng.choice(admins)
            t = day * DAY + rng.uniform(9.5, 17.0) * 3600
            ui = self.ui("terraform-admin", who.iam, t)
            ip = rng.choice(OFFICES["london"])
            for _ in range(15 + rng.randrange(15)):
                call = rng.choice([("ec2.amazonaws.com", "DescribeSecurityGroups"), ("iam.amazonaws.com", "GetRole"),
                                   ("ec2.amazonaws.com", "DescribeSubnets"), ("rds.amazonaws.com", "DescribeDBInstances"),
                                   ("ecs.amazonaws.com", "DescribeClusters")])
                s.ct(t, ui, call[0], call[1], "us-east-1" if call[0] == "iam.amazonaws.com" else "eu-west-1",
                     ip, "APN/1.0 HashiCorp/1.0 Terraform/1.9.5 (+https://www.terraform.io)", None, None)
                t += rng.uniform(0.2, 3)
            s.ct(t, ui, "s3.amazonaws.com", "PutObject", "eu-west-1", ip, "APN/1.0 HashiCorp/1.0 Terraform/1.9.5",
                 read_only=False, s3=("acme-terraform-state", "prod/terraform.tfstate", 900_000, 0))
            if rng.random() < 0.2:
                s.ct(t + 4, ui, "ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", "eu-west-1", ip,
                     "APN/1.0 HashiCorp/1.0 Terraform/1.9.5",
                     {"groupId": "sg-" + hexid(rng, 17), "ipPermissions": {"items": [{
                         "ipProtocol": "tcp", "fromPort": 443, "toPort": 443,
                         "ipRanges": {"items": [{"cidrIp": "10.0.0.0/16"}]}}]}}, {"_return": True}, False)

    def one_offs(self):
        """Rare but benign, once in the first half: the root user signs in to the dev account."""
        s, rng = self.s, self.s.r_aws
        if self.org.days >= 6 and self.org.it_admins:
            t = 2 * DAY + 10.5 * 3600 + rng.uniform(0, 3600)
            s.ct(t, {"type": "Root", "principalId": DEV, "arn": f"arn:aws:iam::{DEV}:root",
                     "accountId": DEV, "accessKeyId": ""}, "signin.amazonaws.com", "ConsoleLogin",
                 "us-east-1", OFFICES["london"][1], self.org.it_admins[0].ua[2], None,
                 {"ConsoleLogin": "Success"}, False, acct=DEV)
            s.ct(t + 600, {"accountId": PROD, "invokedBy": "kms.amazonaws.com"}, "kms.amazonaws.com",
                 "RotateKey", "eu-west-1", "kms.amazonaws.com", "kms.amazonaws.com", None, None, False,
                 service_event=True)


# -------------------------------------------------------------------------- network

class Net:
    """A VPC 10.0.0.0/16 with ~60 hosts; flows aggregated to 10-minute records."""

    def __init__(self, org, streams, seed):
        rng = random.Random(f"{seed}/net-plan")
        self.s, self.org = streams, org
        self.hosts = []

        def add(name, ip, role):
            self.hosts.append({"name": name, "ip": ip, "role": role, "eni": "eni-" + hexid(rng, 17)})
            return ip

        self.edge = add("edge-vpn-01", "10.0.0.5", "edge")
        self.web = [add(f"web-{i + 1:02d}", f"10.0.1.{10 + i}", "web") for i in range(4)]
        self.staging = add("staging-api-01", "10.0.1.40", "staging")
        self.app = [add(f"app-{i + 1:02d}", f"10.0.2.{10 + i}", "app") for i in range(8)]
        self.batch = [add(f"batch-{i + 1:02d}", f"10.0.2.{30 + i}", "batch") for i in range(4)]
        self.db = [add(f"db-{i + 1:02d}", f"10.0.3.{10 + i}", "db") for i in range(4)]
        self.cache = [add(f"cache-{i + 1:02d}", f"10.0.3.{20 + i}", "cache") for i in range(2)]
        self.jump = [add(f"jump-{i + 1:02d}", f"10.0.4.{10 + i}", "jump") for i in range(2)]
        self.monitor = add("monitoring-01", "10.0.4.20", "monitoring")
        self.backup = add("backup-01", "10.0.4.30", "backup")
        self.logs = add("log-collector-01", "10.0.4.40", "logs")
        self.scanner = add("vuln-scanner-01", "10.0.4.50", "scanner")
        self.ci = [add(f"ci-runner-{i + 1:02d}", f"10.0.5.{10 + i}", "ci") for i in range(2)]
        self.ad = [add(f"dc-{i + 1:02d}", f"10.0.6.{10 + i}", "directory") for i in range(2)]
        self.files = add("fileserver-01", "10.0.6.20", "fileserver")
        self.ws = [add(f"admin-ws-{i + 1:02d}", f"10.0.10.{11 + i}", "workstation") for i in range(24)]
        self.eni = {h["ip"]: h["eni"] for h in self.hosts}
        self.servers = self.web + [self.staging] + self.app + self.batch + self.db + self.cache + \
            self.jump + [self.backup, self.logs] + self.ci + self.ad + [self.files]
        self.clients = [random_internet_ip(rng) for _ in range(3000)]
        cum, acc = [], 0.0
        for i in range(len(self.clients)):
            acc += 1.0 / (i + 1) ** 0.9
            cum.append(acc)
        self.client_cum = cum
        self.ntp = ["162.159.200.123", "129.250.35.251"]
        self.update = "34.120.177.193"
        self.payment = ["104.18.12.33", "104.18.13.33", "54.187.174.169"]
        self.github = ["140.82.112.3", "140.82.113.4", "140.82.114.25"]
        self.s3_ips = ["52.218.104.66", "52.218.89.130", "3.5.72.10"]
        self.app_web = {w: self.app[2 * i: 2 * i + 2] for i, w in enumerate(self.web)}

    def flow(self, start, end, iface, src, dst, dport, proto, pkts, nbytes, action, rng):
        e0 = self.s.clock.epoch0
        sport = rng.randrange(32768, 61000) if dport != 123 else 123
        self.s.out.add("flow", start, f"2 {PROD} {self.eni[iface]} {src} {dst} {sport} {dport} {proto} "
                                      f"{pkts} {nbytes} {e0 + start} {e0 + end} {action} OK")

    def window(self, w, rng, span=600):
        a = w + rng.randrange(0, 60)
        return a, min(w + span - 1, a + rng.randrange(5, span - 60))

    def day(self, day):
        rng = self.s.r_net
        weekday = day % 7 < 5
        flow = self.flow
        for i in range(144):
            w = day * DAY + i * 600
            hour = i // 6
            f = diurnal(hour, weekday)
            for web in self.web:
                n = poisson(rng, 16 * f)
                for client in rng.choices(self.clients, cum_weights=self.client_cum, k=n):
                    a, b = self.window(w, rng)
                    pk = 8 + int(rng.expovariate(1 / 60))
                    flow(a, b, web, client, web, 443 if rng.random() < 0.95 else 80, 6, pk,
                         pk * rng.randrange(300, 1400), "ACCEPT", rng)
                for app in self.app_web[web]:
                    a, b = self.window(w, rng)
                    pk = int(300 * f * rng.uniform(0.6, 1.4)) + 10
                    flow(a, b, web, web, app, 8080, 6, pk, pk * rng.randrange(400, 1100), "ACCEPT", rng)
            # Background internet scanning hits every public address and is mostly dropped.
            for target, lam in ((self.web[0], 0.3), (self.web[1], 0.3), (self.web[2], 0.3),
                                (self.web[3], 0.3), (self.staging, 0.12), (self.edge, 0.15)):
                for _ in range(poisson(rng, lam)):
                    a, b = self.window(w, rng)
                    port = rng.choice([22, 23, 80, 443, 445, 3389, 8080, 5900, 6379])
                    ok = target in self.web and port in (80, 443)
                    flow(a, a + rng.randrange(0, 3), target, random_internet_ip(rng), target, port, 6,
                         1 + rng.randrange(3), 40 + rng.randrange(140), "ACCEPT" if ok else "REJECT", rng)
            for k, app in enumerate(self.app):
                a, b = self.window(w, rng)
                pk = int(500 * f * rng.uniform(0.6, 1.4)) + 20
                flow(a, b, app, app, self.db[0], 5432, 6, pk, pk * rng.randrange(200, 900), "ACCEPT", rng)
                if rng.random() < 0.3:
                    a, b = self.window(w, rng)
                    flow(a, b, app, app, self.db[1], 5432, 6, pk // 2 + 5, pk * rng.randrange(200, 600),
                         "ACCEPT", rng)
                if k < 4:
                    a, b = self.window(w, rng)
                    flow(a, b, app, app, self.cache[k % 2], 6379, 6, pk, pk * 120, "ACCEPT", rng)
                    if 7 <= hour < 22 and rng.random() < 0.4:
                        a, b = self.window(w, rng)
                        flow(a, b, app, app, rng.choice(self.payment), 443, 6, 12 + rng.randrange(30),
                             4000 + rng.randrange(20000), "ACCEPT", rng)
            for target in self.servers:
                a = w + rng.randrange(0, 30)
                flow(a, a + 590 - rng.randrange(0, 30), self.monitor, self.monitor, target, 9100, 6,
                     40 + rng.randrange(10), 38000 + rng.randrange(6000), "ACCEPT", rng)
            # Edge appliance: NTP every ~17 minutes, the vendor's update server hourly.
            if i % 2 == 0:
                a, b = self.window(w, rng)
                flow(a, a + 1, self.edge, self.edge, self.ntp[(i // 2) % 2], 123, 17, 2, 152, "ACCEPT", rng)
            if i % 6 == 3:
                a, b = self.window(w, rng)
                flow(a, a + rng.randrange(1, 20), self.edge, self.edge, self.update, 443, 6,
                     10 + rng.randrange(8), 4200 + rng.randrange(3000), "ACCEPT", rng)
            a, b = self.window(w, rng)
            flow(a, b, self.edge, self.edge, self.logs, 514, 17, 30 + rng.randrange(40),
                 9000 + rng.randrange(9000), "ACCEPT", rng)
            # Nightly: backups pull the databases, batch workers read replicas and S3.
            if 1 <= hour < 3 and i % 6 < 5:
                for db in self.db:
                    a, b = self.window(w, rng)
                    pk = 40000 + rng.randrange(30000)
                    flow(a, b, self.backup, self.backup, db, 5432, 6, pk, pk * 1400, "ACCEPT", rng)
            if 2 <= hour < 5:
                for bw in self.batch:
                    a, b = self.window(w, rng)
                    flow(a, b, bw, bw, rng.choice(self.db[2:]), 5432, 6, 5000 + rng.randrange(5000),
                         6_000_000 + rng.randrange(4_000_000), "ACCEPT", rng)
                    a, b = self.window(w, rng)
                    flow(a, b, bw, bw, rng.choice(self.s3_ips), 443, 6, 9000 + rng.randrange(9000),
                         12_000_000 + rng.randrange(8_000_000), "ACCEPT", rng)
            if weekday and 7 <= hour < 18:
                for ci in self.ci:
                    if rng.random() < 0.45:
                        a, b = self.window(w, rng)
                        flow(a, b, ci, ci, rng.choice(self.github), 443, 6, 200 + rng.randrange(2000),
                             300_000 + rng.randrange(3_000_000), "ACCEPT", rng)
                    if rng.random() < 0.2:
                        a, b = self.window(w, rng)
                        flow(a, b, ci, ci, self.staging, 8080, 6, 50 + rng.randrange(300),
                             30_000 + rng.randrange(200_000), "ACCEPT", rng)
                for _ in range(poisson(rng, 0.6)):
                    j = rng.choice(self.jump)
                    a, b = self.window(w, rng)
                    flow(a, b, j, j, rng.choice(self.app + self.db), 22, 6, 100 + rng.randrange(900),
                         20_000 + rng.randrange(200_000), "ACCEPT", rng)
            if weekday and 8 <= hour < 18:
                for ws in self.ws:
                    if rng.random() < 0.3:
                        dst, port = weighted(rng, [((rng.choice(self.jump), 22), 4),
                                                   ((self.files, 445), 4),
                                                   ((rng.choice(self.ad), 389), 2),
                                                   ((rng.choice(self.ad), 88), 2),
                                                   ((rng.choice(self.app), 443), 3)])
                        a, b = self.window(w, rng)
                        flow(a, b, ws, ws, dst, port, 6, 20 + rng.randrange(400),
                             4000 + rng.randrange(400_000), "ACCEPT", rng)
        # Rare but benign: an admin opens RDP to a domain controller; an app calls a new API.
        if weekday and rng.random() < 0.08:
            ws = rng.choice(self.ws)
            a = day * DAY + rng.uniform(9, 17) * 3600
            flow(int(a), int(a) + 300, ws, ws, rng.choice(self.ad), 3389, 6, 900, 1_200_000, "ACCEPT", rng)
        if rng.random() < 0.03:
            app = rng.choice(self.app)
            a = int(day * DAY + rng.uniform(8, 18) * 3600)
            flow(a, a + 60, app, app, random_internet_ip(rng), 443, 6, 30, 12_000, "ACCEPT", rng)
        # The weekly authorised vulnerability scan, Saturday 02:00 UTC.
        if day % 7 == 5:
            t = day * DAY + 2 * 3600
            open_ports = {"web": (80, 443), "staging": (8080,), "app": (8080,), "db": (5432,),
                          "cache": (6379,), "jump": (22,), "fileserver": (445,), "directory": (445, 389)}
            roles = {h["ip"]: h["role"] for h in self.hosts}
            for target in self.servers:
                for port in (22, 80, 443, 445, 3389, 5432, 6379, 8080):
                    t += rng.uniform(0.5, 4)
                    ok = port in open_ports.get(roles[target], ()) or port == 22
                    flow(int(t), int(t) + 1, self.scanner, self.scanner, target, port, 6,
                         3 if ok else 1, 180 if ok else 44, "ACCEPT" if ok else "REJECT", rng)


# -------------------------------------------------------------------------- attacks

class Attacks:
    """The eight labelled attacks; each records its own first and last event times."""

    def __init__(self, org, streams, aws, net, seed):
        self.org, self.s, self.aws, self.net = org, streams, aws, net
        self.rng = random.Random(f"{seed}/attacks")
        self.r_takeover = random.Random(f"{seed}/takeover")
        self.labels = {}
        days = org.days
        self.half = days // 2
        rng = self.rng
        busy = {p.idx for p in org.changers}
        finance = [p for p in org.by_dept["finance"] if p.join_day == 0 and p.change is None
                   and p not in org.ap_team and not p.head]
        self.insider = (finance or [p for p in org.by_dept["finance"] if p not in org.ap_team])[0]
        busy.add(self.insider.idx)
        sales = [p for p in org.by_dept["sales"] if p.join_day == 0 and p.change is None
                 and not p.head and p.idx not in busy]
        self.leaver = rng.choice(sales)
        busy.add(self.leaver.idx)
        eng_iam = [p for p in org.iam_people if p.dept0 == "engineering"]
        self.key_owner = rng.choice(eng_iam)
        self.exposer = rng.choice([p for p in eng_iam if p is not self.key_owner] or eng_iam)
        for p in (self.insider, self.leaver):
            p.trips, p.leave = [], None  # keep the story readable: at home, at work
        self.insider_days = (self.half, days - 1)
        self.box_granted = False
        self.day_keys = self.pick(0.68)
        self.day_copy = self.pick(0.60)
        self.day_fanin = self.pick(0.75, weekday=False)
        self.day_scan = self.pick(0.82)
        self.day_mass = self.pick(0.86)
        self.day_phish = self.pick(0.64)
        self.day_beacon = self.pick(0.70, weekday=False)

    def pick(self, frac, weekday=True):
        days = self.org.days
        d = max(self.half, min(days - 1, round(days * frac)))
        if weekday:
            step = 1
            while d % 7 >= 5:
                d += step
                if d > days - 1:
                    d, step = days - 1, -1
        return d

    def label(self, scenario, t, description=None, entity=None, technique=None, signals=None,
              files=None, related=None):
        lab = self.labels.setdefault(scenario, {"scenario": scenario, "start": t, "end": t})
        lab["start"], lab["end"] = min(lab["start"], t), max(lab["end"], t)
        if description:
            lab.update(description=description, entity_key=entity, technique=technique,
                       related_techniques=related or [], signals=signals, files=files)

    def rendered(self):
        out = []
        for lab in sorted(self.labels.values(), key=lambda x: x["start"]):
            row = dict(lab)
            row["start"], row["end"] = self.s.clock.iso(lab["start"]), self.s.clock.iso(lab["end"])
            out.append({k: row[k] for k in ("scenario", "description", "entity_key", "start", "end",
                                             "technique", "related_techniques", "signals", "files")})
        return out

    # ------------------------------------------------------------ injected up front
    def inject_static(self):
        self.stolen_keys()
        self.prod_to_test()
        self.exposed_fanin()
        self.lateral_scan()
        self.supplier_link()
        self.edge_beacon()

    def stolen_keys(self):
        s, rng, p = self.s, self.rng, self.key_owner
        ui = iam_user_ui(p.iam)
        ip = f"45.77.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        ua = "Boto3/1.26.137 Python/3.8.10 Linux/5.4.0-150-generic Botocore/1.29.137"
        off = self.s.clock.offset(LOCATIONS[p.home][6], self.day_keys)
        t = self.day_keys * DAY + (2.2 - off) * 3600 + rng.uniform(0, 1800)  # ~02:30 at the owner's home
        arn = ui["arn"]
        self.label("stolen_keys_new_region", t,
                   f"The access key of IAM user {p.iam} is used at night from an unknown VPS address "
                   "with a Python SDK: region enumeration, a key pair and an open security group in "
                   "ap-southeast-2 (a region the organisation never uses), then RunInstances for many "
                   "large GPU/compute instances, some refused by the vCPU limit.",
                   f"aws_user:{arn}", "T1078.004",
                   ["new_region_for_org", "new_source_ip_for_entity", "new_user_agent_for_entity",
                    "new_api_call_for_entity", "unusual_hour_for_entity", "api_call_volume",
                    "error_rate"], ["aws_cloudtrail.jsonl"], related=["T1535", "T1496"])
        s.ct(t, ui, "sts.amazonaws.com", "GetCallerIdentity", "us-east-1", ip, ua, None, None)
        t += rng.uniform(10, 40)
        s.ct(t, ui, "ec2.amazonaws.com", "DescribeRegions", "us-east-1", ip, ua, {"regionSet": {}}, None)
        for region in ("us-east-1", "us-west-2", "eu-central-1", "ap-southeast-1", "ap-northeast-1",
                       "sa-east-1", "ap-southeast-2"):
            t += rng.uniform(2, 8)
            s.ct(t, ui, "ec2.amazonaws.com", "DescribeInstances", region, ip, ua, None, None)
            s.ct(t + 1, ui, "servicequotas.amazonaws.com", "GetServiceQuota", region, ip, ua,
                 {"serviceCode": "ec2", "quotaCode": "L-1216C47A"}, None)
        region = "ap-southeast-2"
        t += rng.uniform(30, 90)
        s.ct(t, ui, "ec2.amazonaws.com", "CreateKeyPair", region, ip, ua, {"keyName": "aws-sys-maint"},
             {"keyName": "aws-sys-maint", "keyPairId": "key-" + hexid(rng, 17)}, False)
        sg = "sg-" + hexid(rng, 17)
        t += rng.uniform(5, 20)
        s.ct(t, ui, "ec2.amazonaws.com", "CreateSecurityGroup", region, ip, ua,
             {"groupName": "default-sg-1", "groupDescription": "default"}, {"_return": True, "groupId": sg}, False)
        t += rng.uniform(3, 10)
        s.ct(t, ui, "ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", region, ip, ua,
             {"groupId": sg, "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 0, "toPort": 65535,
                                                          "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}},
             {"_return": True}, False)
        s.ct(t + 5, ui, "ec2.amazonaws.com", "DescribeImages", region, ip, ua,
             {"filterSet": {"items": [{"name": "name", "valueSet": {"items": [{"value": "ubuntu/images/*22.04*"}]}}]}},
             None)
        types = ["p3.16xlarge", "g4dn.12xlarge", "c5.24xlarge", "p3.8xlarge", "c5.18xlarge"]
        for k in range(14):
            t += rng.uniform(60, 200)
            itype = types[k % len(types)]
            count = rng.randrange(4, 11)
            rp = {"instanceType": itype, "instancesSet": {"items": [{"imageId": "ami-0df4b2961410d4cff",
                                                                    "minCount": count, "maxCount": count,
                                                                    "keyName": "aws-sys-maint"}]},
                  "groupSet": {"items": [{"groupId": sg}]}}
            if k % 5 == 4:
                s.ct(t, ui, "ec2.amazonaws.com", "RunInstances", region, ip, ua, rp, None, False,
                     err=("Client.VcpuLimitExceeded", "You have requested more vCPU capacity than your "
                          "current vCPU limit of 256 allows for the instance bucket that the specified "
                          "instance type belongs to."))
            else:
                s.ct(t, ui, "ec2.amazonaws.com", "RunInstances", region, ip, ua, rp,
                     {"instancesSet": {"items": [{"instanceId": "i-" + hexid(rng, 17), "instanceType": itype}
                                                 for _ in range(count)]}}, False)
            self.label("stolen_keys_new_region", t)
        t += rng.uniform(30, 120)
        s.ct(t, ui, "servicequotas.amazonaws.com", "RequestServiceQuotaIncrease", region, ip, ua,
             {"serviceCode": "ec2", "quotaCode": "L-1216C47A", "desiredValue": 1024}, None, False)
        self.label("stolen_keys_new_region", t)

    def prod_to_test(self):
        s, rng = self.s, self.rng
        t = self.day_copy * DAY + 13.3 * 3600 + rng.uniform(0, 1200)
        ui = self.aws.ui("data-pipeline-etl", "etl-adhoc-" + hexid(rng, 6), t)
        arn = role_arn(PROD, "data-pipeline-etl")
        ip = self.aws.batch_ips[0]
        self.label("prod_to_test_bucket", t,
                   "The data-pipeline role, which normally reads acme-prod-data and writes "
                   "acme-analytics-lake at night, copies full customer and payment exports from the "
                   "production bucket into acme-test-data (a bucket it has never written to) in the "
                   "afternoon: ~140 objects of 60-250 MB each over about 100 minutes.",
                   f"aws_user:{arn}", "T1530",
                   ["new_bucket_for_entity", "bytes_transferred_volume", "unusual_hour_for_entity"],
                   ["aws_cloudtrail.jsonl"], related=["T1537"])
        for k in range(140):
            table = "customers" if k < 80 else "payments"
            key = f"exports/{table}/full/part-{k:05d}.parquet"
            size = int(rng.uniform(60, 250) * 1_000_000)
            s.ct(t, ui, "s3.amazonaws.com", "GetObject", "eu-west-1", ip, PY_UA,
                 s3=("acme-prod-data", key, 0, size))
            s.ct(t + rng.uniform(2, 10), ui, "s3.amazonaws.com", "PutObject", "eu-west-1", ip, PY_UA,
                 read_only=False, s3=("acme-test-data", key, size, 0))
            self.label("prod_to_test_bucket", t + 10)
            t += rng.uniform(25, 60)

    def exposed_fanin(self):
        s, rng, net = self.s, self.rng, self.net
        p = self.exposer
        t = self.day_fanin * DAY + 8.6 * 3600 + rng.uniform(0, 900)
        s.ct(t, iam_user_ui(p.iam), "ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", "eu-west-1",
             p.home_ip, self.aws.uas[p.iam],
             {"groupId": "sg-0staging0api0001", "ipPermissions": {"items": [{
                 "ipProtocol": "tcp", "fromPort": 0, "toPort": 65535,
                 "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0", "description": "temp debug"}]}}]}},
             {"_return": True}, False)
        start = int(t + rng.uniform(600, 1800))
        target = net.staging
        self.label("exposed_server_fanin", start,
                   f"A security-group change opens staging-api-01 ({target}) to the whole internet; "
                   "for about seven hours it receives connection attempts from 250-450 distinct "
                   "external addresses per hour on SSH, RDP, HTTP(S), Redis, VNC and Telnet ports, "
                   "where before it saw only internal CI traffic and a trickle of dropped scans.",
                   f"ip:{target}", "T1595",
                   ["inbound_fanin_distinct_sources", "new_external_sources_for_entity",
                    "new_destination_port_for_entity"], ["aws_vpcflow.log", "aws_cloudtrail.jsonl"],
                   related=["T1190", "T1133"])
        for h in range(7):
            h0 = start + h * 3600
            for _ in range(rng.randrange(250, 450)):
                src = random_internet_ip(rng)
                for port in rng.sample([22, 23, 80, 443, 3389, 8080, 8443, 5900, 6379, 445],
                                       rng.choice([1, 1, 1, 2, 3])):
                    a = h0 + rng.randrange(0, 3540)
                    ok = port != 445
                    pk = rng.randrange(1, 6) if ok else 1
                    net.flow(a, a + rng.randrange(0, 20), target, src, target, port, 6, pk,
                             pk * rng.randrange(44, 120), "ACCEPT" if ok else "REJECT", rng)
                    self.label("exposed_server_fanin", a)

    def lateral_scan(self):
        rng, net = self.rng, self.net
        ws = net.ws[rng.randrange(len(net.ws))]
        t = self.day_scan * DAY + 14.1 * 3600 + rng.uniform(0, 1200)
        existing = [h["ip"] for h in net.hosts if h["ip"] != ws]
        targets = list(existing)
        while len(targets) < 190:
            ip = f"10.0.{rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12])}.{rng.randrange(1, 255)}"
            if ip not in targets and ip != ws:
                targets.append(ip)
        rng.shuffle(targets)
        allowed = {(j, 22) for j in net.jump} | {(net.files, 445)} | {(d, 445) for d in net.ad}
        self.label("lateral_scan", t,
                   f"Admin workstation {ws} sweeps 190 internal addresses of 10.0.0.0/16 on "
                   "22/445/3389 within an hour; most attempts are rejected.",
                   f"ip:{ws}", "T1046",
                   ["distinct_internal_destinations", "new_destination_port_for_entity",
                    "rejected_flow_rate", "new_destinations_for_entity"], ["aws_vpcflow.log"],
                   related=["T1021"])
        step = 3300 / len(targets)
        for k, dst in enumerate(targets):
            ports = [port for port in (22, 445, 3389) if rng.random() < 0.8] or [445]
            for port in ports:
                a = int(t + k * step + rng.uniform(0, 5))
                ok = (dst, port) in allowed
                net.flow(a, a + 1, ws, ws, dst, port, 6, 3 if ok else 1, 180 if ok else 44,
                         "ACCEPT" if ok else "REJECT", rng)
                self.label("lateral_scan", a)

    def supplier_link(self):
        s, rng = self.s, self.rng
        # The takeover after the click draws from a stream of its own, so the attacks
        # after this one stay as they were for a seed.
        chain = self.r_takeover
        recipients = [p for p in self.org.ap_team if p is not self.insider][:6] or self.org.by_dept["finance"][:3]
        sender, sip, _ = SUPPLIERS[0]
        t = self.day_phish * DAY + 10.2 * 3600 + rng.uniform(0, 900)
        inv = rng.randrange(30000, 39999)
        mid = f"<{hexid(rng, 20)}@northwindtraders.com>"
        nmid = uuid4(rng)
        subject = f"RE: Invoice INV-{inv} - updated remittance details"
        for k, p in enumerate(recipients):
            s.ti_mail(t + k, p, sender, sip, subject, "NotSpam", "Delivered", mid=mid, nmid=nmid)
        url = f"https://northwind-remittance.com/secure/invoice/INV-{inv}?r={b62(rng, 12)}"
        clickers = rng.sample(recipients, min(2, len(recipients)))
        first = clickers[0]
        self.label("supplier_malicious_link", t,
                   f"A trusted supplier's mailbox ({sender}, which invoices the finance team every "
                   f"week) sends '{subject}' to {len(recipients)} finance users; the mail is "
                   "delivered and two recipients click a link to northwind-remittance.com, a "
                   "domain the supplier's mail never carried and nobody in the organisation has "
                   f"visited. The page harvests {first.email}'s password: within the hour the "
                   "attacker signs in from a hosting provider abroad and adds an inbox rule "
                   "forwarding her mail to an outside address.",
                   f"email_domain:{sender.split('@')[1]}", "T1566.002",
                   ["new_link_domain_for_sender", "new_url_domain_for_org",
                    "click_after_external_mail", "forwarding_rule_after_click"],
                   ["o365_audit.jsonl"], related=["T1199", "T1078", "T1114.003"])
        first_click = None
        for k, p in enumerate(clickers):
            tc = t + (rng.uniform(900, 2400) if k == 0 else rng.uniform(4000, 9000))
            ip = rng.choice(OFFICES[p.home]) if p.home in OFFICES else p.home_ip
            s.ti_click(tc, p, url, ip, nmid)
            self.label("supplier_malicious_link", tc)
            first_click = tc if first_click is None else first_click
        # The harvested password at work: a sign-in from a hosting provider, then an inbox
        # rule that forwards the victim's mail out and marks it read.
        evil_ip = f"45.134.{chain.randrange(20, 30)}.{chain.randrange(2, 250)}"
        tl = first_click + chain.uniform(1500, 3000)
        s.o365(tl, first, "UserLoggedIn", 15, "AzureActiveDirectory", evil_ip,
               "00000002-0000-0ff1-ce00-000000000000", {
                   "AzureActiveDirectoryEventType": 1,
                   "Actor": [{"ID": first.aad_id, "Type": 0}, {"ID": first.email, "Type": 5}],
                   "ActorContextId": ORG_ID, "ActorIpAddress": evil_ip,
                   "ApplicationId": "00000002-0000-0ff1-ce00-000000000000",
                   "ExtendedProperties": [{"Name": "ResultStatusDetail", "Value": "Success"},
                                          {"Name": "UserAgent", "Value": "python-requests/2.31.0"},
                                          {"Name": "RequestType", "Value": "Login:login"}],
                   "Target": [{"ID": "00000002-0000-0ff1-ce00-000000000000", "Type": 0}],
                   "TargetContextId": ORG_ID},
               status="Success", user_key=first.aad_id, rng=chain)
        tr = tl + chain.uniform(240, 900)
        s.inbox_rule(tr, first, evil_ip, ".", [("ForwardTo", "remittance.archive@proton.me"),
                                               ("MarkAsRead", "True"),
                                               ("StopProcessingRules", "True")], chain)
        self.label("supplier_malicious_link", tl)
        self.label("supplier_malicious_link", tr)

    def edge_beacon(self):
        rng, net = self.rng, self.net
        c2 = f"185.{rng.choice([141, 225, 243])}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        t = self.day_beacon * DAY + 3.28 * 3600 + rng.uniform(0, 600)
        self.label("edge_beacon", int(t),
                   f"The edge VPN appliance ({net.edge}), which only ever talks to two NTP servers "
                   f"and its update server, starts connecting to {c2}:443 every ~5 minutes, day and "
                   "night, with small constant-size exchanges until the end of the period.",
                   f"ip:{net.edge}", "T1071.001",
                   ["new_destination_for_entity", "new_external_destination_for_peers",
                    "connection_periodicity"], ["aws_vpcflow.log"], related=["T1573", "T1190"])
        per_window = defaultdict(list)
        while t < self.s.clock.end:
            per_window[int(t) // 600].append(int(t))
            t += 300 + rng.uniform(-40, 40)
        for w in sorted(per_window):
            times = per_window[w]
            n = len(times)
            net.flow(times[0], times[-1] + 2, net.edge, net.edge, c2, 443, 6, 11 * n,
                     n * (2100 + rng.randrange(0, 120)), "ACCEPT", rng)
            self.label("edge_beacon", times[-1])

    # ------------------------------------------------------------ woven into a person's day
    def person_hooks(self, p, day, ctx):
        if p is self.insider and self.insider_days[0] <= day <= self.insider_days[1]:
            self.insider_day(p, day, ctx)
        if p is self.leaver and day == self.day_mass:
            self.mass_download(p, day, ctx)

    def insider_day(self, p, day, ctx):
        s, rng = self.s, self.rng
        if ctx is None or not ctx["weekday"]:
            return
        a, b, _ = ctx["windows"][0]
        ip, loc = ctx["ip"], ctx["loc"]
        if not self.box_granted:
            self.box_granted = True
            admin = self.org.it_admins[0]
            t = a - rng.uniform(600, 3000)
            s.okta_membership(t, admin, p, "Box")
            self.label("insider_slow_exfil", int(t),
                       f"A finance analyst ({p.email}) gets Box assigned and from then on signs in to "
                       "Box through Okta a few times every working day (marketing uses Box daily, "
                       "finance never does) while downloading and uploading a few more files a day "
                       "than usual from the Finance SharePoint site; slow and low over the second "
                       "half of the period.",
                       f"user:{p.email}", "T1567.002",
                       ["new_saas_app_for_entity", "saas_app_rare_for_peers", "file_download_volume",
                        "file_upload_volume"], ["okta_system_log.jsonl", "o365_audit.jsonl"],
                       related=["T1213.002"])
        sid = "102" + b62(rng, 22)
        for _ in range(rng.randrange(2, 5)):
            t = a + rng.random() * (b - a)
            s.okta_sso(t, p, "Box", ip, loc, sid)
            self.label("insider_slow_exfil", int(t))
        for _ in range(rng.randrange(3, 7)):
            t = a + rng.random() * (b - a)
            s.file_op(t, p, "FileDownloaded", "Finance", ip, p.ua[2])
            self.label("insider_slow_exfil", int(t))
        for _ in range(rng.randrange(1, 3)):
            t = a + rng.random() * (b - a)
            s.file_op(t, p, "FileUploaded", "Finance", ip, p.ua[2])
            self.label("insider_slow_exfil", int(t))

    def mass_download(self, p, day, ctx):
        s, rng = self.s, self.rng
        if ctx is None:
            off = self.s.clock.offset(LOCATIONS[p.home][6], day)
            base = day * DAY - off * 3600
            ctx = {"windows": [(base + 9 * 3600, base + 17.5 * 3600, 1.0)], "ip": p.home_ip, "loc": p.home}
        a, b, _ = ctx["windows"][0]
        ip = ctx["ip"]
        t = b - rng.uniform(1.2, 1.6) * 3600
        n = rng.randrange(320, 460)
        self.label("mass_download_external_share", int(t),
                   f"A salesperson ({p.email}) downloads {n} files from the Sales, Contracts and "
                   "Marketing sites and their OneDrive within about an hour, then creates anonymous "
                   "links and sharing invitations to a personal address outside the organisation.",
                   f"user:{p.email}", "T1213.002",
                   ["file_download_volume", "distinct_files_volume", "anonymous_link_rate",
                    "new_external_share_target"], ["o365_audit.jsonl"], related=["T1567", "T1048"])
        sites = DEPARTMENTS["sales"]["sites"] + ["OneDrive"]
        for k in range(n):
            tk = t + k * (3300 / n) + rng.uniform(0, 4)
            site = sites[k % len(sites)]
            files = self.org.sites[site]["files"]
            s.file_op(tk, p, "FileDownloaded", site, ip, p.ua[2], files[k // len(sites) % len(files)])
            self.label("mass_download_external_share", int(tk))
        t += 3400
        personal = f"{p.first.lower()}.{p.last.lower()}{rng.randrange(70, 99)}@gmail.com"
        for _ in range(rng.randrange(8, 15)):
            t += rng.uniform(20, 90)
            s.share_op(t, p, "AnonymousLinkCreated", rng.choice(sites), ip, p.ua[2])
        for _ in range(3):
            t += rng.uniform(20, 90)
            s.share_op(t, p, "SharingInvitationCreated", rng.choice(sites), ip, p.ua[2], personal, "Guest")
        self.label("mass_download_external_share", int(t))


# ----------------------------------------------------------------------------- main

def busy_multipliers(clock, day):
    """Finance month/quarter-end (last two and first two working days) x3; release days."""
    date = clock.start + dt.timedelta(days=day)
    busy = {}
    last = calendar.monthrange(date.year, date.month)[1]
    month_days = [dt.date(date.year, date.month, d) for d in range(1, last + 1)]
    working = [d for d in month_days if d.weekday() < 5]
    if date in working[:2] or date in working[-2:]:
        busy["finance"] = 3.0
    if day % 14 == 3:
        busy["engineering"] = 1.3
    return busy


def lifecycle_events(streams, org, p, day, ctx):
    """New joiners get their apps and set a password; role changers get the new team's apps."""
    admin = org.it_admins[0] if org.it_admins else p
    if ctx is None:
        return
    a = ctx["windows"][0][0]
    if day == p.join_day and p.join_day > 0:
        for k, app in enumerate(sorted(p.apps)):
            streams.okta_membership(a - 3600 + k * 7, admin, p, app)
        streams.okta(a + 120, p, "user.account.update_password", ctx["ip"], ctx["loc"], cred="PASSWORD")
    if p.change and day == p.change[0]:
        streams.okta(a - 1800, admin, "user.account.update_profile", OFFICES["london"][0], "london",
                     target=[{"id": p.okta_id, "type": "User", "alternateId": p.email,
                              "displayName": p.display, "detailEntry": None}],
                     debug={"changedAttributes": "department,title"})
        for k, app in enumerate(sorted(set(p.apps_after) - set(p.apps))):
            streams.okta_membership(a - 1700 + k * 7, admin, p, app)


def write_json(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, ensure_ascii=False)
        f.write("\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output directory (created if missing)")
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start", default="2026-09-07", help="a Monday, YYYY-MM-DD (UTC)")
    args = parser.parse_args(argv)
    try:
        start = dt.date.fromisoformat(args.start)
    except ValueError:
        parser.error(f"--start {args.start!r} is not a date YYYY-MM-DD")
    if start.weekday() != 0:
        parser.error(f"--start {args.start} is a {start.strftime('%A')}; it must be a Monday")
    if args.users < 60:
        parser.error("--users must be at least 60 (every department needs a few people)")
    if not 8 <= args.days <= 366:
        parser.error("--days must be between 8 and 366")
    os.makedirs(args.out, exist_ok=True)
    began = time.monotonic()

    clock = Clock(start, args.days)
    org = Org(args.seed, args.users, args.days)
    out = Out(args.out, clock)
    streams = Streams(org, clock, out, args.seed)
    aws = Aws(org, streams, args.seed)
    net = Net(org, streams, args.seed)
    attacks = Attacks(org, streams, aws, net, args.seed)
    attacks.inject_static()
    aws.one_offs()
    for day in range(args.days):
        busy = busy_multipliers(clock, day)
        release = day % 14 == 3
        for p in org.people:
            ctx = streams.person_day(p, day, busy)
            lifecycle_events(streams, org, p, day, ctx)
            attacks.person_hooks(p, day, ctx)
            if ctx and p.iam:
                aws.human(p, day, ctx, release)
        aws.roles_day(day, release)
        net.day(day)
        out.flush_through(day - 1)
    counts = out.close()

    labels = attacks.rendered()
    write_json(os.path.join(args.out, "labels.json"), labels)
    with open(os.path.join(args.out, "directory.jsonl"), "w", encoding="utf-8") as f:
        for p in org.people:
            changes = []
            if p.change:
                changes.append({"date": clock.dates[p.change[0]], "from": p.dept0, "to": p.change[1]})
            dept = p.change[1] if p.change else p.dept0
            f.write(DUMPS({
                "email": p.email, "entity_key": f"user:{p.email}", "okta_id": p.okta_id,
                "display_name": p.display, "department": dept,
                "title": ("Head of " + dept.title()) if p.head else DEPARTMENTS[dept]["title"],
                "home_city": LOCATIONS[p.home][1], "home_country": LOCATIONS[p.home][0],
                "start_date": clock.dates[p.join_day], "department_changes": changes,
                "iam_user": f"arn:aws:iam::{PROD}:user/{p.iam}" if p.iam else None}) + "\n")
    write_json(os.path.join(args.out, "assets.json"), {
        "vpc": {"cidr": "10.0.0.0/16", "account": PROD, "hosts": [
            dict(h, entity_key=f"ip:{h['ip']}") for h in net.hosts]},
        "aws_accounts": {PROD: "acme-prod", DEV: "acme-dev"},
        "aws_identities": aws.identities()})
    write_json(os.path.join(args.out, "meta.json"), {
        "seed": args.seed, "users": args.users, "days": args.days,
        "start": clock.iso(0), "end": clock.iso(clock.end),
        "counts": counts, "total": sum(counts.values()),
        "scenarios": [lab["scenario"] for lab in labels]})
    print(f"wrote {sum(counts.values())} records to {args.out} in {time.monotonic() - began:.1f}s: "
          + ", ".join(f"{k} {v}" for k, v in counts.items()), file=sys.stderr)


if __name__ == "__main__":
    main()
