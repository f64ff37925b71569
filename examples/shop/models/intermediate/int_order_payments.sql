-- Orders with their payments pivoted per method (amounts in cents).
with orders as (

    select * from {{ ref('stg_orders') }}

),

payments as (

    select * from {{ ref('stg_payments') }}

),

order_payments as (

    select
        order_id,
        sum(case when payment_method = 'credit_card' then amount_cents else 0 end) as credit_card_amount_cents,
        sum(case when payment_method = 'bank_transfer' then amount_cents else 0 end) as bank_transfer_amount_cents,
        sum(case when payment_method = 'coupon' then amount_cents else 0 end) as coupon_amount_cents,
        sum(case when payment_method = 'gift_card' then amount_cents else 0 end) as gift_card_amount_cents,
        sum(amount_cents) as amount_cents,
        count(*) as payment_count
    from payments
    group by order_id

)

select
    orders.order_id,
    orders.customer_id,
    orders.order_date,
    orders.status,
    cast(coalesce(order_payments.amount_cents, 0) as bigint) as amount_cents,
    cast(coalesce(order_payments.credit_card_amount_cents, 0) as bigint) as credit_card_amount_cents,
    cast(coalesce(order_payments.bank_transfer_amount_cents, 0) as bigint) as bank_transfer_amount_cents,
    cast(coalesce(order_payments.coupon_amount_cents, 0) as bigint) as coupon_amount_cents,
    cast(coalesce(order_payments.gift_card_amount_cents, 0) as bigint) as gift_card_amount_cents,
    cast(coalesce(order_payments.payment_count, 0) as bigint) as payment_count
from orders
left join order_payments
    on orders.order_id = order_payments.order_id
