"""Every sentence the shop says, and only here: facts (products, stock, queries) in, words out.

`products`: a product, its stock and a list of products; `search`: results, clarifying questions,
nothing found; `conversation`: stock answers, cart, offers, comparisons, fallbacks, errors.
"""
