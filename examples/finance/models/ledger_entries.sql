-- General-ledger style entries: a sale for every order that left the warehouse
-- and an offsetting refund for every returned order.
with orders as (

    select
        order_id,
        customer_id,
        order_date,
        status,
        amount
    from {{ ref('shop', 'orders') }}

),

sales as (

    select
        order_id,
        customer_id,
        order_date as entry_date,
        'sale' as entry_type,
        amount
    from orders
    where status in ('shipped', 'completed', 'returned')

),

refunds as (

    select
        order_id,
        customer_id,
        order_date as entry_date,
        'refund' as entry_type,
        -amount as amount
    from orders
    where status = 'returned'

)

select
    order_id,
    customer_id,
    entry_date,
    entry_type,
    cast(amount as decimal(18, 2)) as amount
from sales

union all

select
    order_id,
    customer_id,
    entry_date,
    entry_type,
    cast(amount as decimal(18, 2)) as amount
from refunds
