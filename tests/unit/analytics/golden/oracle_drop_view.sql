DROP VIEW wms_order_dtl_v
