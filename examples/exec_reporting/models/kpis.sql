-- Monthly revenue KPIs with month-over-month growth and a year-to-date total.
with revenue as (

    select
        revenue_date,
        order_count,
        gross_revenue,
        net_revenue
    from {{ ref('finance', 'revenue') }}

),

monthly as (

    select
        date_trunc('month', revenue_date) as revenue_month,
        sum(order_count) as order_count,
        sum(gross_revenue) as gross_revenue,
        sum(net_revenue) as net_revenue
    from revenue
    group by date_trunc('month', revenue_date)

)

select
    cast(revenue_month as date) as revenue_month,
    cast(order_count as bigint) as order_count,
    cast(gross_revenue as decimal(18, 2)) as gross_revenue,
    cast(net_revenue as decimal(18, 2)) as net_revenue,
    cast(
        sum(net_revenue) over (
            partition by date_trunc('year', revenue_month)
            order by revenue_month
            rows between unbounded preceding and current row
        ) as decimal(18, 2)
    ) as net_revenue_ytd,
    case
        when lag(net_revenue) over (order by revenue_month) is null then null
        when lag(net_revenue) over (order by revenue_month) = 0 then null
        else cast(
            net_revenue / lag(net_revenue) over (order by revenue_month) - 1
            as decimal(18, 4)
        )
    end as net_revenue_mom_growth
from monthly
