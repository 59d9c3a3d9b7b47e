"""The deterministic Kuiwen demo data set (`youmin up` loads it; `youmin seed --scale 1.0` loads the full size).

It reproduces the district's published figures: 8 streets with their statistics codes, 65 communities
(苇湾社区, 幸福街社区 and 南湖社区 among them), 413 grids, about 263,000 households at scale 1.0, and the
counted staff, whatever the scale: 1,315 grid managers, 784 community workers (198 certified social
workers), 235 mediators, 488 community social organisations, 58 part-time members of the streets' big
working committees and 261 of the communities' big party committees. Households and residents scale.

Everything is generated from fixed random seeds, so two runs give the same people; the structure and
the staff do not depend on the scale. The data goes in through the bulk importer (so the seed is
idempotent: a second run changes nothing) and its events reach the outbox in bulk, set-based.
`seeded_personal_data(scale)` yields the seeded people's name, phone and ID number, for scans that
must prove no personal data leaks.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

import asyncpg
from argon2 import PasswordHasher

from services.registry import bulk, importer
from services.registry.events import DepartmentAssigned
from services.registry.rules.codes import KUIWEN_DISTRICT_CODE, KUIWEN_STREETS, Level, configured_scheme
from services.registry.rules.roles import SIX_HAVES
from youmin.kit.pii import id_check_char
from youmin.kit.relay import asyncpg_dsn

FULL_HOUSEHOLDS = 263_000
SEEDED_STREETS = ("370705001", "370705002", "370705003", "370705004", "370705005", "370705006", "370705007", "370705009")
COMMUNITIES = 65
GRIDS = 413
GRID_MANAGERS = 1_315
COMMUNITY_WORKERS = 784
CERTIFIED_WORKERS = 198
MEDIATORS = 235
SOCIAL_ORGANISATIONS = 488
STREET_PART_TIME = 58
COMMUNITY_PART_TIME = 261
HOUSEHOLDS_PER_UNIT = 20  # 10 floors x 2 rooms
UNITS_PER_BUILDING = 3
AS_OF = date(2026, 11, 1)

DEMO_PASSWORD = "youmin-demo-2026"
# Demo log-ins (phone → what it is); see services/registry/README.md.
DEMO_PHONES = {
    "admin": "13800000001",
    "street_staff": "13800000002",
    "community_staff": "13800000003",
    "grid_manager": "13800000004",
    "resident": "13800000005",
}

SURNAMES = ("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟"
            "汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文")
GIVEN = ("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华玉萍红娥玲菊建国文辉鹏飞宇浩然子涵欣怡梓轩雨泽晨阳"
         "佳琪思远志强海燕春梅秋菊冬雪振华立新永胜德福淑贞")
COMMUNITY_WORDS = ("东风 和平 胜利 民生 文化 健康 阳光 金宝 清平 福寿 友谊 新华 育才 樱花 玉清 虞河 白浪 锦绣 怡园 华安 "
                   "梨园 十笏园 鸢都 北宫 卧龙 东关 南苑 西苑 北苑 新村 福园 乐川 松园 柳园 桃园 杏园 荷花 玉兰 凤凰 "
                   "金马 银河 星河 翠微 碧水 青年 高新 泰华 富华 永安 安顺 康乐 广文 宝通 四平 月河 潍州 青龙 "
                   "白沙 蓝天 双杨 民主 清池").split()
NAMED_COMMUNITIES = {  # the three model communities, by (street, serial)
    ("370705007", 1): "苇湾社区",  # 五民主工作法
    ("370705001", 1): "幸福街社区",  # 四事工作法
    ("370705009", 1): "南湖社区",  # 户决制
}
RESIDENT_UNITS = ("潍坊市人民医院", "潍坊学院", "潍坊银行", "国网潍坊供电公司", "潍坊市第一中学", "奎文区实验小学",
                  "中国移动潍坊分公司", "潍坊市中医院", "潍柴集团", "潍坊日报社")
SOCIAL_KINDS = ("志愿服务队", "文体协会", "老年协会", "邻里互助会", "读书会", "巾帼志愿队", "书画社", "调解志愿队")
REGIONS = ("370702", "370703", "370704", "370705", "370781", "370782", "370783", "370786")


@dataclass(frozen=True)
class Community:
    code: str
    name: str
    grids: tuple[str, ...]


@dataclass(frozen=True)
class Structure:
    """The seeded tree down to the grids (independent of the scale)."""

    communities: tuple[Community, ...]

    @property
    def grids(self) -> list[str]:
        return [g for c in self.communities for g in c.grids]

    def community(self, name: str) -> Community:
        return next(c for c in self.communities if c.name == name)


def _grid_length() -> int:
    """The length of a grid's code in the configured scheme."""
    return configured_scheme().length(Level.GRID)


def structure() -> Structure:
    """Returns the 65 communities and 413 grids, deterministically (grid serials as wide as the configured scheme)."""
    return _structure(configured_scheme().grid_width)


@lru_cache
def _structure(grid_width: int) -> Structure:
    rng = random.Random(370705)
    per_street = [9] + [8] * 7
    words = list(COMMUNITY_WORDS)
    rng.shuffle(words)
    communities = []
    grid_counts = [7] * 23 + [6] * (COMMUNITIES - 23)
    rng.shuffle(grid_counts)
    for street, count in zip(SEEDED_STREETS, per_street):
        for serial in range(1, count + 1):
            name = NAMED_COMMUNITIES.get((street, serial)) or f"{words.pop()}社区"
            code = f"{street}{serial:03d}"
            grids = tuple(f"{code}{g:0{grid_width}d}" for g in range(1, grid_counts[len(communities)] + 1))
            communities.append(Community(code, name, grids))
    assert len(communities) == COMMUNITIES and sum(len(c.grids) for c in communities) == GRIDS
    return Structure(tuple(communities))


@dataclass
class SeedPerson:
    name: str
    id_number: str
    phone: str | None
    household_code: str | None = None
    role_in_household: str = "member"
    role: str | None = None
    scope_code: str | None = None
    certified: bool = False
    organisation: str | None = None
    address: str | None = None


@dataclass
class _Identities:
    """Unique names, phones and ID numbers from a fixed seed."""

    seed: int
    phone_offset: int
    seq_base: int
    rng: random.Random = field(init=False)
    counters: dict[str, int] = field(default_factory=dict)
    issued: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def name(self) -> str:
        given = "".join(self.rng.choice(GIVEN) for _ in range(self.rng.choice((1, 2, 2))))
        return self.rng.choice(SURNAMES) + given

    def phone(self) -> str:
        while True:
            n = (self.phone_offset + self.issued) * 7_919_993 % 10**9
            self.issued += 1
            phone = f"1{3 + n % 7}{n:09d}"
            if phone not in DEMO_PHONES.values():
                return phone

    def id_number(self, born_from: int, born_to: int) -> str:
        region = self.rng.choice(REGIONS)
        born = date.fromordinal(self.rng.randint(date(born_from, 1, 1).toordinal(), date(born_to, 12, 31).toordinal()))
        stem = f"{region}{born:%Y%m%d}"
        seq = self.counters.get(stem, 0)
        self.counters[stem] = seq + 1
        body = f"{stem}{self.seq_base + seq:03d}"
        return body + id_check_char(body)


def staff(struct: Structure | None = None) -> list[SeedPerson]:
    """Returns the counted staff (the same at every scale), demo accounts first."""
    struct = struct or structure()
    rng = random.Random(2026)
    ids = _Identities(seed=11, phone_offset=1, seq_base=500)
    grids = struct.grids
    communities = [c.code for c in struct.communities]
    weiwan = struct.community("苇湾社区")
    people: list[SeedPerson] = []

    def add(role: str, scope: str, **kw) -> SeedPerson:
        person = SeedPerson(name=ids.name(), id_number=ids.id_number(1960, 1998), phone=ids.phone(), role=role,
                            scope_code=scope, **kw)
        people.append(person)
        return person

    add("admin", KUIWEN_DISTRICT_CODE).phone = DEMO_PHONES["admin"]
    add("district_staff", KUIWEN_DISTRICT_CODE)
    for street in SEEDED_STREETS:
        person = add("street_staff", street)
        if street == "370705001":
            person.phone = DEMO_PHONES["street_staff"]
    for community in struct.communities:
        person = add("community_staff", community.code)
        if community is weiwan:
            person.phone = DEMO_PHONES["community_staff"]
    extra_managers = set(rng.sample(range(GRIDS), GRID_MANAGERS - 3 * GRIDS))
    for index, grid in enumerate(grids):
        for n in range(3 + (index in extra_managers)):
            person = add("grid_manager", grid)
            if grid == weiwan.grids[0] and n == 0:
                person.phone = DEMO_PHONES["grid_manager"]
    per_community = [COMMUNITY_WORKERS // COMMUNITIES] * COMMUNITIES
    for index in rng.sample(range(COMMUNITIES), COMMUNITY_WORKERS % COMMUNITIES):
        per_community[index] += 1
    workers = [c for c, n in zip(communities, per_community) for _ in range(n)]
    certified = set(rng.sample(range(COMMUNITY_WORKERS), CERTIFIED_WORKERS))
    for index, community in enumerate(workers):
        add("community_worker", community, certified=index in certified)
    mediator_scopes = [KUIWEN_DISTRICT_CODE, *SEEDED_STREETS, *communities]
    mediator_scopes += rng.sample(grids, MEDIATORS - len(mediator_scopes))
    for scope in mediator_scopes:
        add("mediator", scope)
    for index in range(STREET_PART_TIME):
        add("part_time_member", SEEDED_STREETS[index % len(SEEDED_STREETS)], organisation=rng.choice(RESIDENT_UNITS))
    for index in range(COMMUNITY_PART_TIME):
        add("part_time_member", communities[index % COMMUNITIES], organisation=rng.choice(RESIDENT_UNITS))
    # One legal adviser per community, except two communities still looking for one (the report shows them).
    for community in communities[:-2]:
        add("legal_adviser", community)
    return people


def household_counts(scale: float, struct: Structure | None = None) -> list[int]:
    """Returns the number of households of each grid at a scale (about 263,000 x scale in all)."""
    struct = struct or structure()
    total = max(len(struct.grids), round(FULL_HOUSEHOLDS * scale))
    rng = random.Random(413)
    weights = [rng.uniform(0.8, 1.2) for _ in struct.grids]
    scale_by = total / sum(weights)
    counts = [int(w * scale_by) for w in weights]
    for index in range(total - sum(counts)):
        counts[index % len(counts)] += 1
    return counts


# Each household's members are drawn from its own code, and their ID and phone numbers from its place (grid, serial):
# a household is the same at every scale, so a larger seed loaded over a smaller one finds the people it already has.
MAX_HOUSEHOLDS_PER_GRID = 1024  # the fullest grid holds about 770 households at full scale
_PERSONS_PER_HOUSEHOLD = 4
MAX_SCALE = 1.25
_DATE_STRIDE = 104_729  # a prime: spreads consecutive people over the birth dates


def _household_id_number(region: str, ordinal: int, born_from: int, born_to: int) -> str:
    """A unique ID number for a person's ordinal: (birth date, sequence) is one-to-one with the ordinal (the stride is
    prime to the number of days), so no two seeded residents share one, whatever their regions."""
    first, days = date(born_from, 1, 1).toordinal(), date(born_to, 12, 31).toordinal() - date(born_from, 1, 1).toordinal() + 1
    born = date.fromordinal(first + ordinal * _DATE_STRIDE % days)
    seq = ordinal // days  # below 500: staff take 500-999
    body = f"{region}{born:%Y%m%d}{seq:03d}"
    return body + id_check_char(body)


def _household_phone(ordinal: int) -> str:
    """A unique mobile number for a person's ordinal (multiplying by a number prime to 10^9 is one-to-one)."""
    n = (100_000 + ordinal) * 7_919_993 % 10**9
    phone = f"1{3 + n % 7}{n:09d}"
    return phone if phone not in DEMO_PHONES.values() else f"1{3 + (n + 1) % 7}{n:09d}"


def households(scale: float, struct: Structure | None = None) -> Iterator[tuple[str, list[SeedPerson]]]:
    """Yields (household code, members) for every seeded household, the representative first. A household is the
    same at every scale: a larger scale adds households, it does not change those of a smaller one."""
    struct = struct or structure()
    names = {c.code: c.name for c in struct.communities}
    demo_grid = struct.community("苇湾社区").grids[0]
    first = True
    for grid_index, (grid, count) in enumerate(zip(struct.grids, household_counts(scale, struct))):
        street_name = KUIWEN_STREETS[grid[:9]]
        if count > MAX_HOUSEHOLDS_PER_GRID:
            raise ValueError(f"scale {scale}: {count} households in a grid, over {MAX_HOUSEHOLDS_PER_GRID}")
        for index in range(count):
            building = index // (HOUSEHOLDS_PER_UNIT * UNITS_PER_BUILDING) + 1
            unit = index // HOUSEHOLDS_PER_UNIT % UNITS_PER_BUILDING + 1
            room = index % HOUSEHOLDS_PER_UNIT
            room_code = f"{room // 2 + 1:02d}{room % 2 + 1:02d}"
            code = f"{grid}{building:03d}{unit:02d}{room_code}"
            address = f"奎文区{street_name}{names[grid[:12]]}{building}号楼{unit}单元{room_code}室"
            rng = random.Random(code)
            region = rng.choice(REGIONS)
            size = rng.choices((1, 2, 3, 4), weights=(20, 35, 30, 15))[0]
            members = []
            for m in range(size):
                ordinal = (grid_index * MAX_HOUSEHOLDS_PER_GRID + index) * _PERSONS_PER_HOUSEHOLD + m
                child = m >= 2 and rng.random() < 0.6
                id_number = _household_id_number(region, ordinal, *((2009, 2022) if child else (1940, 2004)))
                given = "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
                members.append(SeedPerson(name=rng.choice(SURNAMES) + given, id_number=id_number,
                                          phone=None if child else _household_phone(ordinal), household_code=code,
                                          address=address, role_in_household="representative" if m == 0 else "member"))
            if first and grid == demo_grid:
                members[0].phone = DEMO_PHONES["resident"]
                first = False
            yield code, members


def seeded_personal_data(scale: float) -> Iterator[tuple[str, str | None, str]]:
    """Yields (name, phone, id_number) of every person the seed creates at a scale."""
    for person in staff():
        yield person.name, person.phone, person.id_number
    for _, members in households(scale):
        for person in members:
            yield person.name, person.phone, person.id_number


def party_members(scale: float) -> Iterator[SeedPerson]:
    """Yields the residents who are party members: about one representative in fifteen, at least one per grid."""
    last_grid, index = None, 0
    for code, members in households(scale):
        grid = code[:_grid_length()]
        if grid != last_grid:
            last_grid, index = grid, 0
        if index % 15 == 0:
            rep = members[0]
            yield SeedPerson(name=rep.name, id_number=rep.id_number, phone=rep.phone, household_code=code,
                             role="party_member", scope_code=grid)
        index += 1


# ---------------------------------------------------------------------------------------------
# Loading

UNIT_HEADER = ["code", "name", "level", "effective_on"]
MEMBER_HEADER = ["household_code", "name", "id_number", "phone", "birth_date", "address", "role_in_household"]
PEOPLE_HEADER = ["name", "id_number", "phone", "household_code", "role", "scope_code", "certified_social_worker",
                 "from_organisation"]


def unit_rows() -> Iterator[list[str]]:
    struct = structure()
    yield [KUIWEN_DISTRICT_CODE, "奎文区", "district", "2020-01-01"]
    for street in SEEDED_STREETS:
        yield [street, KUIWEN_STREETS[street], "street", "2020-01-01"]
    for community in struct.communities:
        yield [community.code, community.name, "community", "2020-01-01"]
        for n, grid in enumerate(community.grids, 1):
            yield [grid, f"{community.name}第{n}网格", "grid", "2021-01-01"]


def member_rows(scale: float) -> Iterator[list[str]]:
    for _, members in households(scale):
        for p in members:
            yield [p.household_code, p.name, p.id_number, p.phone or "", "", p.address or "", p.role_in_household]


def people_rows(scale: float) -> Iterator[list[str]]:
    for p in (*staff(), *party_members(scale)):
        yield [p.name, p.id_number, p.phone or "", p.household_code or "", p.role, p.scope_code,
               "true" if p.certified else "", p.organisation or ""]


def _streets_condition(column: str) -> str:
    return "(" + " OR ".join(f"{column} LIKE '{s}%'" for s in SEEDED_STREETS) + ")"


async def _write_extras(conn: asyncpg.Connection) -> None:
    """Department assignments, party organisations, social organisations and household contacts (set-based)."""
    struct = structure()
    departments = [r["department_code"] for r in await conn.fetch("SELECT department_code FROM department ORDER BY 1")]
    # 部门包居: every community but the last gets one department, round robin.
    pairs = [(departments[i % len(departments)], c.code) for i, c in enumerate(struct.communities[:-1])]
    await conn.execute("CREATE TEMP TABLE new_assignment (department_code text, community_code text) ON COMMIT DROP")
    await conn.execute(
        """WITH wanted AS (SELECT * FROM unnest($1::text[], $2::text[]) AS w(department_code, community_code)),
                ins AS (INSERT INTO department_assignment (department_code, community_id, active, effective_on)
                        SELECT w.department_code, u.unit_id, true, $3 FROM wanted w JOIN org_unit u ON u.code = w.community_code
                        ON CONFLICT DO NOTHING RETURNING department_code, community_id)
           INSERT INTO new_assignment SELECT ins.department_code, u.code FROM ins JOIN org_unit u ON u.unit_id = ins.community_id""",
        [p[0] for p in pairs], [p[1] for p in pairs], AS_OF,
    )
    await conn.execute(bulk.outbox_insert_sql(
        DepartmentAssigned,
        f"SELECT department_code, community_code, true AS active, '{AS_OF}'::date AS effective_on FROM new_assignment",
        order_by="community_code"))
    # Party organisations: 大工委 per street, 大党委 per community, 大支部 per grid (六有), 党小组 per building.
    full = {item: {"met": True, "evidence": f"{item} 台账 2026"} for item in SIX_HAVES}
    short = {**full, "funds": {"met": False, "evidence": ""}, "signage": {"met": True, "evidence": ""}}
    await conn.execute(
        f"""INSERT INTO party_org (party_org_id, unit_id, kind, name, six_haves)
            SELECT gen_random_uuid(), u.unit_id,
                   CASE u.level WHEN 'street' THEN 'big_working_committee' WHEN 'community' THEN 'big_party_committee'
                                WHEN 'grid' THEN 'big_branch' ELSE 'party_group' END,
                   u.name || CASE u.level WHEN 'street' THEN '大工委' WHEN 'community' THEN '大党委'
                                          WHEN 'grid' THEN '大支部' ELSE '党小组' END,
                   CASE WHEN u.level <> 'grid' THEN '{{}}'::jsonb
                        WHEN right(u.code, 1) = '7' THEN $1::jsonb ELSE $2::jsonb END
            FROM org_unit u WHERE u.level IN ('street', 'community', 'grid', 'building') AND {_streets_condition('u.code')}
            ON CONFLICT (unit_id) DO NOTHING""",
        __import__("json").dumps(short, ensure_ascii=False), __import__("json").dumps(full, ensure_ascii=False),
    )
    rng = random.Random(488)
    counts = [SOCIAL_ORGANISATIONS // COMMUNITIES] * COMMUNITIES
    for index in rng.sample(range(COMMUNITIES), SOCIAL_ORGANISATIONS % COMMUNITIES):
        counts[index] += 1
    names, codes = [], []
    for community, n in zip(struct.communities, counts):
        for k in range(n):
            names.append(f"{community.name}{SOCIAL_KINDS[k % len(SOCIAL_KINDS)]}" + (f"{k // len(SOCIAL_KINDS) + 1}" if k >= len(SOCIAL_KINDS) else ""))
            codes.append(community.code)
    await conn.execute(
        """INSERT INTO social_organisation (organisation_id, community_id, name)
           SELECT gen_random_uuid(), u.unit_id, w.name FROM unnest($1::text[], $2::text[]) AS w(code, name)
           JOIN org_unit u ON u.code = w.code
           WHERE NOT EXISTS (SELECT 1 FROM social_organisation s WHERE s.community_id = u.unit_id AND s.name = w.name)""",
        codes, names,
    )
    # 党员联户 (every household but one in 47 across the district) and 干部走访 (the grid's managers, every household).
    for role, kind, skip in (("party_member", "party_member", 47), ("grid_manager", "visiting_cadre", 0)):
        await conn.execute(
            f"""WITH staff AS (
                  SELECT person_id, scope_code, row_number() OVER (PARTITION BY scope_code ORDER BY person_id) - 1 AS i,
                         count(*) OVER (PARTITION BY scope_code) AS k
                  FROM role_grant WHERE role = $1 AND revoked_on IS NULL AND length(scope_code) = {_grid_length()}
                  AND {_streets_condition('scope_code')}),
                hh AS (
                  SELECT unit_id, left(code, {_grid_length()}) AS grid,
                         row_number() OVER (PARTITION BY left(code, {_grid_length()}) ORDER BY code) - 1 AS j,
                         row_number() OVER (ORDER BY code) - 1 AS g
                  FROM org_unit WHERE level = 'household' AND {_streets_condition('code')})
                INSERT INTO household_contact (household_id, person_id, kind)
                SELECT hh.unit_id, staff.person_id, $2 FROM hh JOIN staff ON staff.scope_code = hh.grid AND staff.i = hh.j % staff.k
                WHERE $3 = 0 OR hh.g % $3 <> $3 - 1
                ON CONFLICT DO NOTHING""",
            role, kind, skip,
        )


async def _set_demo_passwords(conn: asyncpg.Connection) -> None:
    hasher = PasswordHasher()
    for phone in DEMO_PHONES.values():
        person_id = await conn.fetchval("SELECT person_id FROM person_personal WHERE phone = $1", phone)
        if person_id is not None:
            await conn.execute(
                "INSERT INTO credential (person_id, password_hash) VALUES ($1, $2) ON CONFLICT (person_id) DO NOTHING",
                person_id, hasher.hash(DEMO_PASSWORD),
            )


async def seed_demo(database_url: str, *, scale: float, console) -> None:
    """Loads the demo data set at a scale (idempotent; shows progress), its codes in the registry's scheme
    (REGISTRY_GRID_SERIAL_WIDTH)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from services.registry.rules.codes import CodeScheme, configure
    from services.registry.settings import Settings

    if not 0 < scale <= MAX_SCALE:
        raise ValueError(f"scale must be above 0 and at most {MAX_SCALE:g} (1.0 is Kuiwen's full size)")
    width = Settings().grid_serial_width
    configure(CodeScheme(grid_width=width))
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    marker = f"seed scale={scale:g}" + (f" grid width={width}" if width != 3 else "")
    try:
        done = await conn.fetchval(
            "SELECT 1 FROM import_job WHERE kind = 'seed' AND source_name = $1 AND status = 'succeeded'", marker)
        if done:
            console.print(f"[green]✓[/] registry demo data already loaded ({marker})")
            return
        member_total = sum(1 for _ in member_rows(scale))
        people_total = sum(1 for _ in people_rows(scale))
        with Progress(TextColumn("[bold]registry seed[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console, transient=False) as progress:
            for kind, header, rows, total in (
                ("units", UNIT_HEADER, unit_rows(), 1 + len(SEEDED_STREETS) + COMMUNITIES + GRIDS),
                ("households", MEMBER_HEADER, member_rows(scale), member_total),
                ("people", PEOPLE_HEADER, people_rows(scale), people_total),
            ):
                task = progress.add_task(kind, total=total)

                def update(phase: str, n: int, _bytes: int, task=task, kind=kind) -> None:
                    progress.update(task, completed=min(n, progress.tasks[task].total or n),
                                    description=f"{kind}: {phase}")

                result = await importer.import_rows(conn, kind, header, rows, source_name=f"{marker}:{kind}",
                                                    as_of=AS_OF, progress=update,
                                                    connect=lambda: asyncpg.connect(asyncpg_dsn(database_url)))
                if result.status != "succeeded":
                    shown = "; ".join(f"row {e.row} {e.field}: {e.reason}" for e in result.errors[:5])
                    raise RuntimeError(f"seeding {kind} failed: {shown}")
                progress.update(task, completed=total, description=f"{kind}: {result.rows_created} new")
            task = progress.add_task("departments, party organisations, contacts", total=1)
            # Fresh bulk data: give the planner statistics before the set-based joins.
            await conn.execute("ANALYZE org_unit, role_grant, household, person, person_personal")
            async with conn.transaction():
                await _write_extras(conn)
                await _set_demo_passwords(conn)
                await conn.execute(bulk.NOTIFY_SQL)
                await conn.execute(
                    "INSERT INTO import_job (import_id, kind, source_name, status, finished_at) "
                    "VALUES (gen_random_uuid(), 'seed', $1, 'succeeded', now())", marker)
            progress.update(task, completed=1)
        console.print(f"[green]✓[/] registry demo data loaded ({marker}); demo log-ins in services/registry/README.md")
    finally:
        await conn.close()
