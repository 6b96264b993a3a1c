/* placeholder: being written */
int kcv_placeholder_retinanet_load(void);
int kcv_placeholder_retinanet_load(void) { return 0; }
