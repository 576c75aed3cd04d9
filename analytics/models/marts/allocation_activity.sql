-- Allocation activity per facility and day (the day the allocation was created, UTC).
select
    h.facility_key,
    {{ dbt.date_trunc('day', 'a.create_ts') }} as activity_date,
    count(*) as allocations,
    count(distinct d.order_id) as orders,
    sum(a.alloc_qty) as allocated_qty,
    sum(a.packed_qty) as packed_qty
from {{ ref('stg_allocation') }} a
join {{ ref('stg_order_dtl') }} d on d.order_dtl_id = a.order_dtl_id
join {{ ref('stg_order_hdr') }} h on h.order_id = d.order_id
group by h.facility_key, {{ dbt.date_trunc('day', 'a.create_ts') }}
