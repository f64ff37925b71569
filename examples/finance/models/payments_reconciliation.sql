-- Checks every shop order against the ledger and splits its payments into
-- cash and non-cash tenders.
with orders as (

    select
        order_id,
        order_date,
        status,
        amount,
        credit_card_amount,
        bank_transfer_amount,
        coupon_amount,
        gift_card_amount,
        shipped_at
    from {{ ref('shop', 'orders') }}

),

tenders as (

    select
        order_id,
        credit_card_amount + bank_transfer_amount as cash_amount,
        coupon_amount + gift_card_amount as non_cash_amount
    from orders

),

ledger as (

    select
        order_id,
        sum(amount) as ledger_amount,
        count(*) as ledger_entry_count
    from {{ ref('ledger_entries') }}
    group by order_id

)

select
    orders.order_id,
    orders.order_date,
    orders.status as order_status,
    orders.amount as order_amount,
    tenders.cash_amount,
    tenders.non_cash_amount,
    cast(coalesce(ledger.ledger_amount, 0) as decimal(18, 2)) as ledger_amount,
    coalesce(ledger.ledger_entry_count, 0) as ledger_entry_count,
    case
        when orders.shipped_at is null then 'not_yet_invoiced'
        when orders.status = 'returned' and coalesce(ledger.ledger_amount, 0) = 0 then 'refunded'
        when ledger.ledger_amount = orders.amount then 'reconciled'
        else 'mismatch'
    end as reconciliation_status
from orders
inner join tenders
    on orders.order_id = tenders.order_id
left join ledger
    on orders.order_id = ledger.order_id
