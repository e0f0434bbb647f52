"""Databases made by real libraries, and checks made by those libraries.

    python apps.py make LIB DB           the library creates and fills DB
    python apps.py check LIB ORIG COPY   the library opens COPY (a restore of
                                         ORIG) and checks it is the same and
                                         still works: exit 0, or a message

LIB is one of: sqlalchemy, alembic, sqlite_utils, peewee. Each check uses
the library's own view of the database (reflection, migrations, full-text
search), then writes to the copy as the application would next.
"""

import datetime
import decimal
import os
import sqlite3
import sys
import tempfile


def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)


def integrity(path):
    c = sqlite3.connect(path)
    r = c.execute("PRAGMA integrity_check").fetchall()
    fk = c.execute("PRAGMA foreign_key_check").fetchall()
    c.close()
    if r != [("ok",)]:
        fail(f"{path}: integrity_check {r}")
    if fk:
        fail(f"{path}: foreign_key_check {fk}")


# --------------------------------------------------------------------------
# SQLAlchemy ORM: declarative models with relationships, constraints, JSON,
# numerics, dates, enums and server defaults.

def sqlalchemy_models():
    import enum
    from sqlalchemy import (JSON, CheckConstraint, Date, DateTime, Enum,
                            ForeignKey, Index, Numeric, String, UniqueConstraint,
                            func)
    from sqlalchemy.orm import (DeclarativeBase, Mapped, mapped_column,
                                relationship)

    class Base(DeclarativeBase):
        pass

    class Status(enum.Enum):
        open = "open"
        paid = "paid"

    class Customer(Base):
        __tablename__ = "customers"
        __table_args__ = (UniqueConstraint("email", name="uq_customer_email"),)
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(80), index=True)
        email: Mapped[str] = mapped_column(String(120))
        born: Mapped[datetime.date | None] = mapped_column(Date)
        prefs: Mapped[dict] = mapped_column(JSON, default=dict)
        created: Mapped[datetime.datetime] = mapped_column(
            DateTime, server_default=func.current_timestamp())
        invoices: Mapped[list["Invoice"]] = relationship(back_populates="customer")

    class Invoice(Base):
        __tablename__ = "invoices"
        __table_args__ = (
            CheckConstraint("total >= 0", name="ck_total_positive"),
            Index("ix_invoice_customer_status", "customer_id", "status"),
        )
        id: Mapped[int] = mapped_column(primary_key=True)
        customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
        total: Mapped[decimal.Decimal] = mapped_column(Numeric(10, 2))
        status: Mapped[Status] = mapped_column(Enum(Status))
        customer: Mapped[Customer] = relationship(back_populates="invoices")

    return Base, Customer, Invoice, Status


def sqlalchemy_engine(path):
    from sqlalchemy import create_engine, event
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _fk(conn, _):
        conn.execute("PRAGMA foreign_keys = ON")
    return engine


def make_sqlalchemy(path):
    from sqlalchemy.orm import Session
    Base, Customer, Invoice, Status = sqlalchemy_models()
    engine = sqlalchemy_engine(path)
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        for i in range(200):
            c = Customer(name=f"Customer {i} é", email=f"c{i}@example.com",
                         born=datetime.date(1970 + i % 40, 1 + i % 12, 1 + i % 28),
                         prefs={"lang": ["fr", "pt", "en"][i % 3], "n": i})
            c.invoices = [Invoice(total=decimal.Decimal(f"{i}.{j:02d}"),
                                  status=Status.paid if j % 2 else Status.open)
                          for j in range(i % 5)]
            s.add(c)
        s.commit()


def sqlalchemy_snapshot(path):
    from sqlalchemy import inspect, select
    from sqlalchemy.orm import Session
    Base, Customer, Invoice, Status = sqlalchemy_models()
    engine = sqlalchemy_engine(path)
    insp = inspect(engine)
    schema = {}
    for t in sorted(insp.get_table_names()):
        schema[t] = (
            [(c["name"], str(c["type"]), c["nullable"], str(c["default"]), c["primary_key"])
             for c in insp.get_columns(t)],
            sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in insp.get_indexes(t)),
            sorted((f["name"] or "", tuple(f["constrained_columns"]), f["referred_table"],
                    str(f.get("options"))) for f in insp.get_foreign_keys(t)),
            sorted((u["name"] or "", tuple(u["column_names"])) for u in insp.get_unique_constraints(t)),
            sorted((k["name"] or "", k["sqltext"]) for k in insp.get_check_constraints(t)),
        )
    with Session(engine) as s:
        rows = [(c.id, c.name, c.email, c.born, c.prefs, c.created,
                 [(i.id, i.total, i.status.value) for i in sorted(c.invoices, key=lambda i: i.id)])
                for c in s.scalars(select(Customer).order_by(Customer.id))]
    engine.dispose()
    return schema, rows


def check_sqlalchemy(orig, copy):
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session
    a, b = sqlalchemy_snapshot(orig), sqlalchemy_snapshot(copy)
    if a[0] != b[0]:
        fail(f"SQLAlchemy reflects another schema:\n{a[0]}\n{b[0]}")
    if a[1] != b[1]:
        fail("SQLAlchemy reads other objects")
    # The application goes on: new rows, cascades, the check constraint.
    Base, Customer, Invoice, Status = sqlalchemy_models()
    engine = sqlalchemy_engine(copy)
    with Session(engine) as s:
        c = Customer(name="New", email="new@example.com", prefs={})
        c.invoices = [Invoice(total=decimal.Decimal("1.50"), status=Status.open)]
        s.add(c)
        s.commit()
        if c.id != 201:
            fail(f"a new customer got id {c.id}, expected 201")
        s.delete(s.get(Customer, 1))
        s.commit()
        try:
            s.add(Invoice(customer_id=2, total=decimal.Decimal("-1"), status=Status.open))
            s.commit()
            fail("the CHECK constraint did not hold")
        except Exception as e:  # IntegrityError
            if "CHECK" not in str(e):
                raise
            s.rollback()
        try:
            s.add(Customer(name="Dup", email="c5@example.com", prefs={}))
            s.commit()
            fail("the unique constraint did not hold")
        except Exception as e:
            if "UNIQUE" not in str(e):
                raise
            s.rollback()
        n = s.scalar(select(func.count()).select_from(Invoice).where(Invoice.customer_id == 1))
        if n != 0:
            fail("ON DELETE CASCADE did not hold")
    engine.dispose()


# --------------------------------------------------------------------------
# Alembic: a schema built by migrations (including a batch migration, which
# recreates a table), whose revision the restored copy still knows, and
# which can be migrated down and up again.

def alembic_env(path):
    from alembic.config import Config
    d = tempfile.mkdtemp(prefix="nuage-alembic-")
    os.makedirs(os.path.join(d, "versions"))
    with open(os.path.join(d, "env.py"), "w") as f:
        f.write('''
from alembic import context
from sqlalchemy import create_engine
url = context.config.get_main_option("sqlalchemy.url")
with create_engine(url).connect() as conn:
    context.configure(connection=conn, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
''')
    with open(os.path.join(d, "script.py.mako"), "w") as f:
        f.write("")
    revisions = {
        "0001_jobs": ('None', '''
    op.create_table("jobs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("plate", sa.String(16), nullable=False),
        sa.Column("notes", sa.Text))
    op.create_index("ix_jobs_plate", "jobs", ["plate"])
''', '''
    op.drop_table("jobs")
'''),
        "0002_parts": ('"0001_jobs"', '''
    op.create_table("parts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id"), nullable=False),
        sa.Column("ref", sa.String(32), nullable=False))
    with op.batch_alter_table("jobs") as b:
        b.add_column(sa.Column("done", sa.Boolean, nullable=False, server_default=sa.false()))
        b.alter_column("notes", new_column_name="remarks")
        b.create_unique_constraint("uq_jobs_plate", ["plate"])
''', '''
    with op.batch_alter_table("jobs") as b:
        b.drop_constraint("uq_jobs_plate", type_="unique")
        b.alter_column("remarks", new_column_name="notes")
        b.drop_column("done")
    op.drop_table("parts")
'''),
    }
    for rev, (down, up, downgrade) in revisions.items():
        with open(os.path.join(d, "versions", f"{rev}.py"), "w") as f:
            f.write(f'''
from alembic import op
import sqlalchemy as sa
revision = "{rev}"
down_revision = {down}
def upgrade():{up}
def downgrade():{downgrade}
''')
    cfg = Config()
    cfg.set_main_option("script_location", d)
    cfg.set_main_option("sqlalchemy.url", f"sqlite:///{path}")
    return cfg


def alembic_revision(path):
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine
    with create_engine(f"sqlite:///{path}").connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def make_alembic(path):
    from alembic import command
    command.upgrade(alembic_env(path), "head")
    c = sqlite3.connect(path)
    c.execute("PRAGMA foreign_keys = ON")
    for i in range(1, 101):
        c.execute("INSERT INTO jobs(plate, remarks, done) VALUES (?, ?, ?)", (f"AB-{i:03d}-CD", f"brakes {i}", i % 2))
        c.execute("INSERT INTO parts(job_id, ref) VALUES (?, ?)", (i, f"P{i}"))
    c.commit()
    c.close()


def check_alembic(orig, copy):
    from alembic import command
    if alembic_revision(copy) != "0002_parts" or alembic_revision(orig) != "0002_parts":
        fail(f"Alembic sees revision {alembic_revision(copy)!r}, expected '0002_parts'")
    dump = lambda p: sqlite3.connect(p).execute("SELECT id, plate, remarks, done FROM jobs ORDER BY id").fetchall()
    if dump(orig) != dump(copy):
        fail("the jobs differ")
    # The application's next release migrates the restored database.
    cfg = alembic_env(copy)
    command.downgrade(cfg, "0001_jobs")
    if alembic_revision(copy) != "0001_jobs":
        fail("downgrade did not apply")
    command.upgrade(cfg, "head")
    if alembic_revision(copy) != "0002_parts":
        fail("upgrade did not apply")
    rows = sqlite3.connect(copy).execute("SELECT count(*) FROM jobs").fetchone()[0]
    if rows != 100:
        fail(f"{rows} jobs after migrating down and up")


# --------------------------------------------------------------------------
# sqlite-utils: full-text search (FTS5 with its triggers, and FTS4).

def make_sqlite_utils(path):
    import sqlite_utils
    db = sqlite_utils.Database(path)
    db["docs"].insert_all(
        ({"id": i, "title": f"Invoice {i}", "body": ("hello world " if i % 3 == 0 else "brake pads ") + f"note {i} é"}
         for i in range(1, 301)), pk="id")
    db["docs"].enable_fts(["title", "body"], create_triggers=True)
    db["notes"].insert_all(({"id": i, "text": f"oil change {i}"} for i in range(1, 51)), pk="id")
    db["notes"].enable_fts(["text"], fts_version="FTS4", create_triggers=True)
    db["docs"].create_index(["title"])
    db.create_view("recent", "select * from docs where id > 250")


def check_sqlite_utils(orig, copy):
    import sqlite_utils
    a, b = sqlite_utils.Database(orig), sqlite_utils.Database(copy)
    for t in ("docs", "notes"):
        if a[t].detect_fts() != b[t].detect_fts() or b[t].detect_fts() is None:
            fail(f"{t}: full-text index {b[t].detect_fts()!r}, expected {a[t].detect_fts()!r}")
    search = lambda db, t, q: [r["id"] for r in db[t].search(q, order_by="id")]
    if search(a, "docs", "hello") != search(b, "docs", "hello") or len(search(b, "docs", "hello")) != 100:
        fail("docs: the search finds other rows")
    if search(a, "notes", "oil") != search(b, "notes", "oil"):
        fail("notes: the search finds other rows")
    b.execute("INSERT INTO docs_fts(docs_fts) VALUES ('integrity-check')")
    b.execute("INSERT INTO notes_fts(notes_fts) VALUES ('integrity-check')")
    # The triggers keep indexing what the application writes next.
    b["docs"].insert({"id": 1000, "title": "New", "body": "zanzibar"})
    b["notes"].insert({"id": 1000, "text": "zanzibar"})
    if search(b, "docs", "zanzibar") != [1000] or search(b, "notes", "zanzibar") != [1000]:
        fail("the full-text triggers do not index new rows")
    if [r["id"] for r in b["recent"].rows][:1] != [251]:
        fail("the view reads other rows")


# --------------------------------------------------------------------------
# peewee: models with a foreign key, and its FTS4 extension model.

def peewee_models(path):
    from peewee import (BooleanField, CharField, DecimalField, ForeignKeyField,
                        Model)
    from playhouse.sqlite_ext import FTSModel, SearchField, SqliteExtDatabase
    db = SqliteExtDatabase(path, pragmas={"foreign_keys": 1})

    class Base(Model):
        class Meta:
            database = db

    class Vehicle(Base):
        plate = CharField(unique=True)
        diesel = BooleanField(default=False)

    class Repair(Base):
        vehicle = ForeignKeyField(Vehicle, backref="repairs", on_delete="CASCADE")
        cost = DecimalField(max_digits=8, decimal_places=2)
        label = CharField(index=True)

    class RepairIndex(FTSModel):
        label = SearchField()

        class Meta:
            database = db

    return db, Vehicle, Repair, RepairIndex


def make_peewee(path):
    db, Vehicle, Repair, RepairIndex = peewee_models(path)
    db.create_tables([Vehicle, Repair, RepairIndex])
    with db.atomic():
        for i in range(1, 81):
            v = Vehicle.create(plate=f"PT-{i:02d}-XY", diesel=i % 2 == 0)
            for j in range(i % 4):
                r = Repair.create(vehicle=v, cost=decimal.Decimal(f"{i}.{j}0"), label=f"clutch {i} {j}")
                RepairIndex.insert({RepairIndex.docid: r.id, RepairIndex.label: r.label}).execute()
    db.close()


def peewee_dump(path):
    db, Vehicle, Repair, RepairIndex = peewee_models(path)
    rows = [(v.id, v.plate, v.diesel, [(r.id, r.cost, r.label) for r in v.repairs.order_by(Repair.id)])
            for v in Vehicle.select().order_by(Vehicle.id)]
    found = [r.docid for r in RepairIndex.search("clutch").order_by(RepairIndex.docid)]
    db.close()
    return rows, found


def check_peewee(orig, copy):
    if peewee_dump(orig) != peewee_dump(copy):
        fail("peewee reads other objects, or its search finds other rows")
    db, Vehicle, Repair, RepairIndex = peewee_models(copy)
    RepairIndex.integrity_check()
    v = Vehicle.create(plate="NEW-1")
    if v.id != 81:
        fail(f"a new vehicle got id {v.id}, expected 81")
    Vehicle.get_by_id(3).delete_instance()
    if Repair.select().where(Repair.vehicle == 3).count() != 0:
        fail("ON DELETE CASCADE did not hold")
    db.close()


LIBS = {
    "sqlalchemy": (make_sqlalchemy, check_sqlalchemy),
    "alembic": (make_alembic, check_alembic),
    "sqlite_utils": (make_sqlite_utils, check_sqlite_utils),
    "peewee": (make_peewee, check_peewee),
}

if __name__ == "__main__":
    what, lib = sys.argv[1], sys.argv[2]
    make, check = LIBS[lib]
    if what == "make":
        make(sys.argv[3])
        integrity(sys.argv[3])
    elif what == "check":
        integrity(sys.argv[4])
        check(sys.argv[3], sys.argv[4])
    else:
        fail(f"unknown command {what}")
