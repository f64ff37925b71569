-- orders v2: amounts in dollars, plus sales channel and fulfilment timestamps.
with order_payments as (

    select * from {{ ref('int_order_payments') }}

),

fulfillment as (

    select * from {{ ref('int_order_fulfillment') }}

)

select
    order_payments.order_id,
    order_payments.customer_id,
    order_payments.order_date,
    order_payments.status,
    cast(order_payments.amount_cents / 100 as decimal(18, 2)) as amount,
    cast(order_payments.credit_card_amount_cents / 100 as decimal(18, 2)) as credit_card_amount,
    cast(order_payments.bank_transfer_amount_cents / 100 as decimal(18, 2)) as bank_transfer_amount,
    cast(order_payments.coupon_amount_cents / 100 as decimal(18, 2)) as coupon_amount,
    cast(order_payments.gift_card_amount_cents / 100 as decimal(18, 2)) as gift_card_amount,
    order_payments.payment_count,
    fulfillment.order_channel,
    fulfillment.shipped_at,
    fulfillment.delivered_at
from order_payments
left join fulfillment
    on order_payments.order_id = fulfillment.order_id
