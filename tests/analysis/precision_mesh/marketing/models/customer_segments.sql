with customers as (

    select * from {{ ref('platform', 'customers') }}

)

select
    customer_id,
    customer_name,
    region,
    case
        when lifetime_value >= 300 then 'gold'
        when lifetime_value >= 100 then 'silver'
        else 'bronze'
    end as segment,
    rank() over (partition by region order by lifetime_value desc, customer_id) as region_rank

from customers
