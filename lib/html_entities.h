/* Lookup of HTML5 named character references, for the tokenizer's ftfy-like text cleanup. */
#ifndef TI_HTML_ENTITIES_H
#define TI_HTML_ENTITIES_H

/* `name` is the reference without '&' and with its ';' ("amp;"). Returns the UTF-8 text it
 * stands for, or NULL when it is not a known entity. Case-sensitive, as HTML is. */
const char *ti_html_entity_lookup(const char *name);

#endif
