/* placeholder: being written */
int kcv_placeholder_retinanet_anchors(void);
int kcv_placeholder_retinanet_anchors(void) { return 0; }
