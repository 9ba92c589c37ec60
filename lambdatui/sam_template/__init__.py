"""A SAM template as a front door: one `AWS::Serverless::Function` becomes the values a `FunctionConfig` is built
from (lambda-spec §10.5). Nothing below the command line knows a template was used.

What a local run needs is read: `Handler`, `Runtime`, `CodeUri`, `Timeout`, `MemorySize`, `FunctionName`,
`Environment.Variables`, `Layers` (the local `ContentUri` of the template's own `AWS::Serverless::LayerVersion`
resources) and `LoggingConfig` (the variables Lambda sets for it), with `Globals.Function` applied first by SAM's own
rules (maps merge, lists add up, the function's scalar wins; its `IgnoreGlobals` leaves them off). CloudFormation's
short tags parse into their long form (`!Ref X` is `{"Ref": "X"}`), as SAM CLI reads them, so a YAML and a JSON
template are the same data. What can be known here is resolved: parameters' defaults, the pseudo parameters a local
environment has (its region, SAM local's placeholder account), `!Sub`, `!Join`, `!If` and the other functions over
those. What only CloudFormation knows (`!GetAtt`, a resource's `!Ref`, `!ImportValue`, a layer's ARN) is left out and
named once, so the user can give it with `--env-vars`.
"""
