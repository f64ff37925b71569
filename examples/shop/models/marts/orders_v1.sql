-- orders v1 (deprecated): amounts in integer cents, no fulfilment data.
select
    order_id,
    customer_id,
    order_date,
    status,
    amount_cents,
    credit_card_amount_cents,
    bank_transfer_amount_cents,
    coupon_amount_cents,
    gift_card_amount_cents
from {{ ref('int_order_payments') }}
