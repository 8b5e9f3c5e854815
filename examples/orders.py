"""Transactional enqueue with Postgres: an order and its confirmation email commit together.

Needs PostgreSQL. From a clone of the repository, with the database in DATABASE_URL
(default postgresql://postgres@127.0.0.1:5432/test):

    uv run python examples/orders.py

It keeps its tables and taskrunner's in one schema (SHOP_SCHEMA, default "shop"), places an
order whose row and confirmation job are committed in one transaction, then tries an order
that fails halfway (out of stock): the rollback removes its row and its job alike. Last, a
worker sends the confirmation that was committed, and only that one.
"""

from __future__ import annotations

import asyncio
import os
from typing import TypeAlias
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from taskrunner import Job, JobState, State, TaskRunner

# an asyncpg connection, opened alone or taken from a pool
Connection: TypeAlias = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
SHOP_SCHEMA = os.environ.get("SHOP_SCHEMA", "shop")


def with_schema(url: str, schema: str) -> str:
    """The database URL with taskrunner's `schema` parameter added."""
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query), ("schema", schema)]
    return urlunsplit(parts._replace(query=urlencode(query)))


runner = TaskRunner(with_schema(DATABASE_URL, SHOP_SCHEMA))


async def open_pool() -> asyncpg.Pool:
    """The app's own connection pool; its unqualified table names are the shop's."""
    return await asyncpg.create_pool(
        DATABASE_URL, min_size=1, max_size=5, server_settings={"search_path": SHOP_SCHEMA}
    )


async def create_tables(conn: Connection) -> None:
    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{SHOP_SCHEMA}"')
    await conn.execute(
        """
        CREATE TABLE IF NOT EXISTS stock (sku text PRIMARY KEY, available int NOT NULL);
        CREATE TABLE IF NOT EXISTS orders (
            id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            email        text NOT NULL,
            sku          text NOT NULL,
            quantity     int NOT NULL,
            confirmed_at timestamptz
        );
        CREATE TABLE IF NOT EXISTS sent_emails (
            order_id bigint NOT NULL, recipient text NOT NULL, subject text NOT NULL
        );
        """
    )


# -- placing an order: the row and the job in one transaction ----------------------------------


class OutOfStock(Exception):
    pass


# --8<-- [start:place_order]
async def place_order(
    conn: Connection, email: str, sku: str, quantity: int
) -> tuple[int, Job[str]]:
    """Store the order and enqueue its confirmation; both exist only if the whole commits."""
    async with conn.transaction():
        order_id: int = await conn.fetchval(
            "INSERT INTO orders (email, sku, quantity) VALUES ($1, $2, $3) RETURNING id",
            email,
            sku,
            quantity,
        )
        # the job is written on `conn`, inside the open transaction
        job = await send_confirmation.options(connection=conn).enqueue(order_id)
        left = await conn.fetchval(
            "UPDATE stock SET available = available - $2 WHERE sku = $1 RETURNING available",
            sku,
            quantity,
        )
        if left is None or left < 0:
            raise OutOfStock(f"not enough {sku} left")  # rolls back the order and the job
    return order_id, job
    # --8<-- [end:place_order]


# -- the job: runs after the commit, on a worker -----------------------------------------------


@runner.on_startup
async def connect_shop(state: State) -> None:
    state.pool = await open_pool()


@runner.on_shutdown
async def disconnect_shop(state: State) -> None:
    await state.pool.close()


@runner.task(retries=5)
async def send_confirmation(order_id: int) -> str:
    """Email the order's confirmation, once: a second run finds it already confirmed."""
    pool: asyncpg.Pool = runner.state.pool
    async with pool.acquire() as conn, conn.transaction():
        order = await conn.fetchrow(
            "SELECT email, sku, quantity, confirmed_at FROM orders WHERE id = $1 FOR UPDATE",
            order_id,
        )
        if order is None:
            return f"order {order_id} no longer exists"
        if order["confirmed_at"] is not None:
            return f"order {order_id} was already confirmed"
        subject = f"Order {order_id}: {order['quantity']} x {order['sku']}"
        await deliver_email(conn, order_id, order["email"], subject)
        await conn.execute("UPDATE orders SET confirmed_at = now() WHERE id = $1", order_id)
    return f"confirmation sent to {order['email']}"


async def deliver_email(conn: Connection, order_id: int, recipient: str, subject: str) -> None:
    """Stands in for a mail provider's API: it records the message in a table."""
    await conn.execute(
        "INSERT INTO sent_emails (order_id, recipient, subject) VALUES ($1, $2, $3)",
        order_id,
        recipient,
        subject,
    )


# -- the demo ----------------------------------------------------------------------------------


async def main() -> None:
    pool = await open_pool()
    try:
        async with runner:  # connects, and creates taskrunner's tables on first use
            async with pool.acquire() as conn:
                await create_tables(conn)
                await conn.execute(
                    "INSERT INTO stock VALUES ('mug', 3) "
                    "ON CONFLICT (sku) DO UPDATE SET available = 3"
                )
                order_id, job = await place_order(conn, "ada@example.com", "mug", 2)
                print(f"order {order_id} committed with its job {job.id}")
                try:
                    await place_order(conn, "bob@example.com", "mug", 5)
                except OutOfStock as exc:
                    print(f"second order rolled back ({exc}): no row, no job")
            waiting = (await runner.stats(["default"]))["default"][JobState.QUEUED]
            print(f"jobs waiting: {waiting}")
            await runner.worker(burst=True).run()  # run what is due, then return
            print(f"job {job.id}: {await job.result(timeout=10)}")
    finally:
        await pool.close()


if __name__ == "__main__":
    asyncio.run(main())
