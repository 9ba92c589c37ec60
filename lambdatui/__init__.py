"""lambdatui: step a serverless function through the AWS Lambda execution-environment lifecycle.

Imports nothing, so that `import lambdatui.core` stays light and the bootstrap stays loadable alone.
"""

__version__ = "0.1.0"
