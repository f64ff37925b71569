-- The ten customers with the highest kept spend, with when they last ordered.
with segments as (

    select
        customer_id,
        customer_name,
        kept_spend,
        value_segment
    from {{ ref('finance', 'customer_segments') }}

),

customers as (

    select
        customer_id,
        most_recent_order_date
    from {{ ref('shop', 'customers') }}

),

ranked as (

    select
        segments.customer_id,
        segments.customer_name,
        segments.value_segment,
        segments.kept_spend,
        customers.most_recent_order_date,
        rank() over (order by segments.kept_spend desc) as spend_rank
    from segments
    left join customers
        on segments.customer_id = customers.customer_id

)

select
    spend_rank,
    customer_id,
    customer_name,
    value_segment,
    kept_spend,
    most_recent_order_date
from ranked
where spend_rank <= 10
