/* placeholder: being written */
int kcv_placeholder_focal(void);
int kcv_placeholder_focal(void) { return 0; }
