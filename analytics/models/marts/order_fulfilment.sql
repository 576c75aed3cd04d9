-- Ordered vs allocated quantity per order line, with the order's header: what is still open and
-- how old it is. A line is open while it is neither shipped (status 90) nor cancelled (99) and
-- less than its ordered quantity is allocated.
with allocated as (
    select order_dtl_id, sum(alloc_qty) as allocated_qty, count(*) as allocations
    from {{ ref('stg_allocation') }}
    group by order_dtl_id
)

select
    h.order_id,
    h.order_nbr,
    h.facility_key,
    d.order_dtl_id,
    d.seq_nbr,
    d.item_key,
    d.status_id,
    d.ord_qty as ordered_qty,
    coalesce(a.allocated_qty, 0) as allocated_qty,
    d.ord_qty - coalesce(a.allocated_qty, 0) as unallocated_qty,
    coalesce(a.allocations, 0) as allocations,
    case
        when d.status_id not in (90, 99) and coalesce(a.allocated_qty, 0) < d.ord_qty then 1
        else 0
    end as is_open,
    {{ dbt.datediff('h.create_ts', dbt.current_timestamp(), 'day') }} as age_days
from {{ ref('stg_order_dtl') }} d
join {{ ref('stg_order_hdr') }} h on h.order_id = d.order_id
left join allocated a on a.order_dtl_id = d.order_dtl_id
