"""Portfolio Evals: evaluate a portfolio of LLMs per task and compile a routing policy from the evidence.

Importing ``evals`` imports no model SDK (anthropic, openai, vllm, llama_cpp) and not ``datasets``.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
