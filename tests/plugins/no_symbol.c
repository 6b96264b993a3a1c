/* A shared object that is not a kcv plugin (no kcv_plugin_describe). */
__attribute__((visibility("default"))) int not_a_plugin(void);
int not_a_plugin(void)
{
	return 42;
}
