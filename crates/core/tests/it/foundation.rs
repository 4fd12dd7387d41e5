use wacrm_core as _;
