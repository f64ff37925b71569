with

source as (

    select * from {{ source('ecom', 'raw_orders') }}

),

renamed as (

    select
        id as order_id,
        customer_id,
        ordered_at,
        status,
        amount_cents / 100.0 as amount

    from source

)

select * from renamed
