"""Studio settings, from Streamlit secrets (passed in by the UI layer) or the environment.

Secrets win over the environment; both use the same names (VIDU_API_KEY, ...). Keys and the password are
masked in `repr`, so a settings object can be logged or shown safely.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from lib.core.errors import ConfigError
from lib.core.money import PRICE_MAX, Prices
from lib.core.validation import as_number
from lib.service import accounts, budget
from lib.vendors import kling, pricing, vidu

# `[prices]` in secrets (dollars per credit or unit), or these environment variables.
PRICE_NAMES = {"vidu_credit": "STUDIO_PRICE_VIDU_CREDIT", "kling_unit": "STUDIO_PRICE_KLING_UNIT"}
DEFAULT_PRICES = Prices(pricing.DOLLARS_PER_VIDU_CREDIT, pricing.DOLLARS_PER_KLING_UNIT)

MIN_POOL_SIZE, MAX_POOL_SIZE = 4, 100  # STUDIO_DATABASE_POOL_SIZE's bounds (PostgreSQL allows 100 in all by default)


def _secret():
    return field(default=None, metadata={"secret": True})


@dataclass(frozen=True, repr=False)
class Settings:
    vidu_api_key: str | None = _secret()
    vidu_profile: str = "vidu-global"
    vidu_base_url: str | None = None
    kling_access_key: str | None = _secret()
    kling_secret_key: str | None = _secret()
    kling_api_key: str | None = _secret()
    kling_region: str = "singapore"
    kling_base_url: str | None = None
    kling_webhook_secret: str | None = _secret()
    data_dir: Path = Path("data")
    database_url: str | None = _secret()  # PostgreSQL shared by several studio processes; None: SQLite in data_dir
    password: str | None = _secret()
    users: Mapping[str, accounts.Account] = field(default_factory=dict, metadata={"secret": True})  # by key
    public_url: str | None = None
    hosted: bool = False  # a shared instance: stricter about what the server itself fetches
    task_timeout: float = 3600.0  # seconds the poller follows a task before asking the user to check again
    media_quota_mb: float = 5120.0  # how much archived media one person's folder may hold after an import
    poll_concurrency: int = 32  # queries in flight per vendor (lib/service/poller.py says why 32)
    database_pool_size: int = 0  # PostgreSQL connections per process; 0: sized from poll_concurrency (`pool_size`)
    sim_speed: float = 4.0  # how much faster than the real vendors the demo simulator runs
    sim_queue_seconds: float = 4.0  # demo mode: seconds a new task waits in the queue, long enough to show Cancel
    sim_url: str | None = None  # demo mode with several replicas: the one simulator they share (python -m lib.sim)
    budgets: budget.Budgets = field(default_factory=budget.Budgets)  # monthly, per person (lib/service/budget.py)
    prices: Prices = DEFAULT_PRICES  # dollars per Vidu credit and Kling unit, for the estimates

    @property
    def vidu_live(self) -> bool:
        return bool(self.vidu_api_key)

    @property
    def kling_live(self) -> bool:
        return bool(self.kling_api_key or (self.kling_access_key and self.kling_secret_key))

    @property
    def pool_size(self) -> int:
        """PostgreSQL connections this process keeps at most: as set, else half the queries in flight per vendor
        (a poll holds a connection only for its few short statements, never while the vendor answers), and at
        least MIN_POOL_SIZE for the pages, the copies and the leases' renewal."""
        return self.database_pool_size or max(MIN_POOL_SIZE, self.poll_concurrency // 2)

    @property
    def database_passwords(self) -> tuple[str, ...]:
        """The database URL's password as written and decoded, to keep out of logs and messages like the URL."""
        password = urlsplit(self.database_url or "").password
        return tuple({password, unquote(password)}) if password else ()

    def __repr__(self) -> str:
        def shown(f: dataclasses.Field) -> str:
            value = getattr(self, f.name)
            return "'***'" if f.metadata.get("secret") and value else repr(value)
        return f"Settings({', '.join(f'{f.name}={shown(f)}' for f in dataclasses.fields(self))})"


def load_settings(environ: Mapping[str, str] = os.environ, secrets: Mapping | None = None) -> Settings:
    """Settings from `secrets` (e.g. `st.secrets.to_dict()`) over `environ`; every problem reported at once."""
    def get(name: str) -> str | None:
        for source in (secrets or {}, environ):
            value = source.get(name)
            if value is not None and str(value).strip():
                return str(value).strip()
        return None

    users, user_problems = accounts.parse_users((secrets or {}).get("users") or {})
    budgets, budget_problems = budget.parse_budgets((secrets or {}).get("budget"), get)
    prices, price_problems = parse_prices((secrets or {}).get("prices"), get)
    concurrency = as_number(get("STUDIO_POLL_CONCURRENCY") or Settings.poll_concurrency) or 0
    queue_seconds = as_number(get("STUDIO_SIM_QUEUE_SECONDS") or Settings.sim_queue_seconds)
    pool_text = get("STUDIO_DATABASE_POOL_SIZE")
    pool_size = as_number(pool_text) if pool_text else None
    settings = Settings(
        vidu_api_key=get("VIDU_API_KEY"),
        vidu_profile=get("VIDU_PROFILE") or Settings.vidu_profile,
        vidu_base_url=get("VIDU_BASE_URL"),
        kling_access_key=get("KLING_ACCESS_KEY"),
        kling_secret_key=get("KLING_SECRET_KEY"),
        kling_api_key=get("KLING_API_KEY"),
        kling_region=get("KLING_REGION") or Settings.kling_region,
        kling_base_url=get("KLING_BASE_URL"),
        kling_webhook_secret=get("KLING_WEBHOOK_SECRET"),
        data_dir=Path(get("STUDIO_DATA_DIR") or Settings.data_dir),
        database_url=get("STUDIO_DATABASE_URL"),
        password=get("STUDIO_PASSWORD"),
        users=users,
        public_url=(get("STUDIO_PUBLIC_URL") or "").rstrip("/") or None,
        hosted=(get("STUDIO_HOSTED") or "").lower() in ("1", "true", "yes") or bool(users or get("STUDIO_PASSWORD")),
        task_timeout=as_number(get("STUDIO_TASK_TIMEOUT") or Settings.task_timeout) or 0,
        media_quota_mb=as_number(get("STUDIO_MEDIA_QUOTA_MB") or Settings.media_quota_mb) or 0,
        poll_concurrency=int(concurrency) if float(concurrency).is_integer() else 0,
        # unset: 0 (sized from poll_concurrency); not a whole number: -1, reported below
        database_pool_size=0 if not pool_text else int(pool_size) if pool_size and pool_size.is_integer() else -1,
        sim_speed=as_number(get("STUDIO_SIM_SPEED") or Settings.sim_speed) or 0,
        sim_queue_seconds=-1.0 if queue_seconds is None else queue_seconds,  # not a number: reported below
        sim_url=(get("STUDIO_SIM_URL") or "").rstrip("/") or None,
        budgets=budgets,
        prices=prices,
    )
    problems = list(user_problems) + budget_problems + price_problems
    if settings.task_timeout <= 0:
        problems.append("STUDIO_TASK_TIMEOUT must be a number of seconds above 0.")
    if settings.media_quota_mb <= 0:
        problems.append("STUDIO_MEDIA_QUOTA_MB must be a number of megabytes above 0.")
    if not 1 <= settings.poll_concurrency <= 64:
        problems.append("STUDIO_POLL_CONCURRENCY must be a whole number from 1 to 64.")
    if pool_text and not MIN_POOL_SIZE <= settings.database_pool_size <= MAX_POOL_SIZE:
        problems.append(f"STUDIO_DATABASE_POOL_SIZE must be a whole number from {MIN_POOL_SIZE} to {MAX_POOL_SIZE}: "
                        "the database connections each studio process may keep open.")
    if settings.sim_speed <= 0:
        problems.append("STUDIO_SIM_SPEED must be a number above 0.")
    if not 0 <= settings.sim_queue_seconds <= 600:
        problems.append("STUDIO_SIM_QUEUE_SECONDS must be a number of seconds from 0 to 600.")
    for check, value in ((vidu.profile_settings, settings.vidu_profile), (kling.region_url, settings.kling_region)):
        try:
            check(value)
        except ConfigError as err:
            problems.append(str(err))
    if bool(settings.kling_access_key) != bool(settings.kling_secret_key):
        problems.append("KLING_ACCESS_KEY and KLING_SECRET_KEY work only as a pair: set both, or use KLING_API_KEY.")
    for name in ("VIDU_BASE_URL", "KLING_BASE_URL", "STUDIO_PUBLIC_URL", "STUDIO_SIM_URL"):
        url = get(name)
        if url and (urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc):
            problems.append(f"{name} must be a web address starting with http:// or https://.")
    if settings.database_url and not _database_url_ok(settings.database_url):
        problems.append("STUDIO_DATABASE_URL must be a PostgreSQL address: postgresql://user:password@host:port/name.")
    if problems:
        raise ConfigError(" ".join(problems))
    return settings


def parse_prices(section, environment) -> tuple[Prices, list[str]]:
    """Prices from the secrets' `[prices]` section over the environment variables (unset: the defaults), and
    every problem."""
    section = section if isinstance(section, Mapping) else {}
    found, problems = {}, []
    for name, variable in PRICE_NAMES.items():
        value = section.get(name, environment(variable))
        if value is None or str(value).strip() == "":
            found[name] = getattr(DEFAULT_PRICES, name)
            continue
        number = as_number(value)
        if number is None or not 0 < number <= PRICE_MAX:
            problems.append(f"The price {name} (or {variable}) must be an amount of dollars above 0 and at most "
                            f"{PRICE_MAX:g}, such as 0.005.")
        else:
            found[name] = number
    return Prices(**found), problems


def _database_url_ok(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        return False
    return parts.scheme in ("postgresql", "postgres") and bool(parts.hostname) and len(parts.path) > 1
