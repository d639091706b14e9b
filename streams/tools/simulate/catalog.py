"""What simulated traffic picks from: weighted choices, pages, assets, job titles, companies."""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Mapping
from typing import Final


class Weighted:
    """A fixed weighted choice among names (faster than random.choices for repeated use)."""

    __slots__ = ("_cum", "_names", "_total")

    def __init__(self, weights: Mapping[str, float]) -> None:
        self._names = tuple(weights)
        self._cum = tuple(itertools.accumulate(weights.values()))
        self._total = self._cum[-1]

    def __call__(self, rng: random.Random) -> str:
        return self._names[bisect.bisect(self._cum, rng.random() * self._total)]


SOURCES: Final = {"website": "web-tracker", "email": "marketing-automation", "call": "dialer"}
SITE: Final = "https://www.example.com"

BROWSE: Final = Weighted(
    {"blog": 36, "docs": 20, "product": 24, "pricing": 7, "careers": 5, "other": 8}
)
ANON_BROWSE: Final = Weighted({"blog": 50, "docs": 20, "product": 25, "other": 5})
CONTENT_BROWSE: Final = Weighted({"blog": 3, "product": 2})
FORM_BROWSE: Final = Weighted({"product": 3, "pricing": 2})
CONTACT_BROWSE: Final = Weighted({"product": 2, "other": 1})
SLUGS: Final = {
    "blog": ("lead-scoring-101", "mql-vs-sql", "sales-handoff", "funnel-metrics", "intent-data"),
    "docs": ("getting-started", "api", "integrations/crm", "webhooks", "sso"),
    "product": ("", "features", "integrations", "security", "customers"),
    "pricing": ("", "enterprise", "compare"),
    "careers": ("", "engineering", "sales"),
    "other": ("about", "contact", "legal/privacy", "partners"),
}
ASSETS: Final = {
    "ebook": ("The Lead Qualification Playbook", "B2B Funnel Benchmarks 2026"),
    "whitepaper": ("Real-time Scoring Architecture", "Data Quality in RevOps"),
    "case_study": ("How Northwind Doubled SQLs", "Contoso Cuts Response Time"),
    "template": ("Lead Scoring Spreadsheet", "SDR Call Script"),
}
WEBINARS: Final = ("Scoring leads in real time", "From MQL to SQO", "RevOps office hours")
SENIORITY: Final = Weighted(
    {"c_level": 6, "vp": 8, "director": 16, "manager": 25, "individual": 38, "other": 7}
)
TITLES: Final = {
    "c_level": ("CEO", "CTO", "CFO", "COO", "Founder"),
    "vp": ("VP Engineering", "VP Sales", "VP Marketing", "VP Operations"),
    "director": ("Director of IT", "Head of Operations", "Director of Marketing", "Head of Data"),
    "manager": ("Engineering Manager", "Marketing Manager", "IT Manager", "Product Manager"),
    "individual": ("Software Engineer", "Data Analyst", "Marketing Specialist", "SDR"),
    "other": ("Consultant", "Freelancer", "Advisor"),
    "student": ("Student", "PhD Candidate", "MBA Student"),
}
INDUSTRIES: Final = (
    "software",
    "financial_services",
    "healthcare",
    "manufacturing",
    "retail",
    "logistics",
    "media",
    "professional_services",
    "public_sector",
)
COUNTRIES: Final = Weighted({
    "US": 30, "GB": 10, "DE": 10, "FR": 6, "CA": 6, "IN": 6, "NL": 5, "AU": 4,
    "SE": 3, "ES": 3, "BR": 3, "JP": 3, "PL": 2, "CH": 2, "IE": 2, "SG": 2,
})  # fmt: skip
COMPANY_A: Final = (
    "North", "Blue", "Bright", "Silver", "Nova", "Apex", "Cedar", "Iron",
    "Quantum", "Harbor", "Summit", "Pioneer", "Vertex", "Lumen", "Orbit", "Maple",
)  # fmt: skip
COMPANY_B: Final = (
    "Labs", "Systems", "Logistics", "Health", "Analytics", "Works", "Dynamics",
    "Foods", "Energy", "Media", "Partners", "Retail", "Robotics", "Finance",
)  # fmt: skip
CITIES: Final = ("Oakridge", "Lakeside", "Westfield", "Riverton", "Hillcrest")
FIRST: Final = ("alex", "sam", "maria", "li", "noah", "emma", "omar", "sofia", "jan", "priya")
LAST: Final = ("smith", "garcia", "chen", "mueller", "kowalski", "silva", "khan", "dubois")
DQ_CALL: Final = Weighted(
    {"no_budget": 30, "bad_timing": 25, "not_a_fit": 25, "not_interested": 20}
)
DQ_TOPICS: Final = {
    "no_budget": ("budget", "pricing"),
    "bad_timing": ("timeline",),
    "not_a_fit": ("implementation", "competitor"),
    "not_interested": ("competitor",),
}
