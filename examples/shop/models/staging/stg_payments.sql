with source as (

    select * from {{ ref('raw_payments') }}

)

select
    id as payment_id,
    order_id,
    payment_method,
    cast(amount as bigint) as amount_cents
from source
