/* placeholder: being written */
int kcv_placeholder_retinanet_encode(void);
int kcv_placeholder_retinanet_encode(void) { return 0; }
