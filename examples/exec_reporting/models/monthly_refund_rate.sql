-- Share of booked sales that was refunded, per month.
with ledger as (

    select
        entry_date,
        entry_type,
        amount
    from {{ ref('finance', 'ledger_entries') }}

),

monthly as (

    select
        cast(date_trunc('month', entry_date) as date) as booking_month,
        sum(case when entry_type = 'sale' then amount else 0 end) as sales_amount,
        -sum(case when entry_type = 'refund' then amount else 0 end) as refund_amount
    from ledger
    group by 1

)

select
    booking_month,
    cast(sales_amount as decimal(18, 2)) as sales_amount,
    cast(refund_amount as decimal(18, 2)) as refund_amount,
    case
        when sales_amount = 0 then null
        else cast(refund_amount / sales_amount as decimal(18, 4))
    end as refund_rate
from monthly
