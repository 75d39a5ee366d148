// Validates an OpenAPI 3.1 document strictly:
//   node validate.mjs FILE
// 1. the OpenAPI 3.1 schema (structure and internal $refs), by
//    @seriousme/openapi-schema-validator;
// 2. every Schema Object compiles as JSON Schema 2020-12 under Ajv's strict
//    mode (unknown keywords such as 3.0's `nullable` are errors), and its
//    `default` and `examples` match it;
// 3. every parameter, request body and media type `example` matches its
//    schema;
// 4. path templates and path parameters agree, an operation's parameters
//    are unique by name and location, and operationIds are unique.
// Prints every problem and exits 1 when there is one, 2 on a usage error.
import { readFileSync } from "node:fs";
import { Validator } from "@seriousme/openapi-schema-validator";
import Ajv2020 from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";

const addFormats = addFormatsModule.default ?? addFormatsModule;
const methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

if (process.argv.length !== 3) {
  console.error("usage: node validate.mjs OPENAPI.json");
  process.exit(2);
}
const file = process.argv[2];

let doc;
try {
  doc = JSON.parse(readFileSync(file, "utf8"));
} catch (error) {
  console.error(`${file}: ${error.message}`);
  process.exit(1);
}

const problems = new Set(); // one line per problem, however often it is found
const problem = (where, message) => problems.add(`${where}: ${message}`);

// 1. The OpenAPI 3.1 schema.
if (typeof doc.openapi !== "string" || !/^3\.1\.\d+$/.test(doc.openapi)) {
  problem("/openapi", `must be 3.1.x, is ${JSON.stringify(doc.openapi)}`);
}
const validator = new Validator();
const structural = await validator.validate(structuredClone(doc));
if (!structural.valid) {
  const errors = Array.isArray(structural.errors) ? structural.errors : [structural.errors];
  for (const error of errors) {
    if (typeof error === "string") {
      problem("(document)", error);
    } else {
      const params = error.params && Object.keys(error.params).length ? ` ${JSON.stringify(error.params)}` : "";
      problem(error.instancePath || "/", `${error.message}${params} (schema ${error.schemaPath})`);
    }
  }
} else if (validator.version !== "3.1") {
  problem("/openapi", `validated as OpenAPI ${validator.version}, not 3.1`);
}

// 2. Schema Objects as JSON Schema 2020-12, strictly. Component schemas get
// an $id so that "#/components/schemas/X" references resolve between them.
// Union types (`"type": ["string", "null"]`) are plain 3.1, so allowed.
const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true, validateFormats: true });
addFormats(ajv);
// Ajv knows OpenAPI 3.0's `nullable`; 3.1 has no such keyword (it writes
// `"type": ["string", "null"]` or an anyOf with `{"type": "null"}`).
ajv.removeKeyword("nullable");
// The OpenAPI dialect's own keywords (OAS 3.1, "Schema Object").
ajv.addVocabulary(["discriminator", "xml", "externalDocs", "example"]);

const componentId = (name) => `urn:openapi:components:schemas:${encodeURIComponent(name)}`;
const localPrefix = "#/components/schemas/";
const rewriteRefs = (value) => {
  if (Array.isArray(value)) {
    return value.map(rewriteRefs);
  }
  if (value === null || typeof value !== "object") {
    return value;
  }
  const out = {};
  for (const [key, member] of Object.entries(value)) {
    if (key === "$ref" && typeof member === "string" && member.startsWith(localPrefix)) {
      out[key] = componentId(decodeURIComponent(member.slice(localPrefix.length)));
    } else {
      out[key] = rewriteRefs(member);
    }
  }
  return out;
};
const escape = (part) => String(part).replace(/~/g, "~0").replace(/\//g, "~1");
const pointer = (...parts) => "/" + parts.map(escape).join("/");

const componentSchemas = doc.components?.schemas ?? {};
for (const [name, schema] of Object.entries(componentSchemas)) {
  try {
    const copy = rewriteRefs(schema);
    ajv.addSchema(typeof copy === "object" ? { ...copy, $id: componentId(name) } : copy, componentId(name));
  } catch (error) {
    problem(pointer("components", "schemas", name), error.message);
  }
}

const compiled = new Map();
const compile = (where, schema) => {
  if (schema === undefined) {
    return null;
  }
  try {
    if (schema && typeof schema === "object" && schema.$ref && Object.keys(schema).length === 1) {
      const id = rewriteRefs(schema).$ref;
      return ajv.getSchema(id) ?? (problem(where, `unresolved ${schema.$ref}`), null);
    }
    const key = JSON.stringify(schema);
    if (!compiled.has(key)) {
      compiled.set(key, ajv.compile(rewriteRefs(schema)));
    }
    return compiled.get(key);
  } catch (error) {
    problem(where, error.message);
    return null;
  }
};
const check = (where, validate, value, what) => {
  if (validate && !validate(value)) {
    for (const error of validate.errors) {
      const at = error.instancePath || "/";
      problem(where, `${what} ${JSON.stringify(value)} does not match its schema: ${at} ${error.message}`);
    }
  }
};

// Every schema's own default and examples, recursively through the
// keywords that hold subschemas.
const schemaKeywords = [
  "items", "contains", "not", "if", "then", "else", "additionalProperties", "propertyNames", "unevaluatedItems",
  "unevaluatedProperties", "contentSchema",
];
const schemaListKeywords = ["allOf", "anyOf", "oneOf", "prefixItems"];
const schemaMapKeywords = ["properties", "patternProperties", "dependentSchemas", "$defs"];
const walkSchema = (where, schema) => {
  if (schema === null || typeof schema !== "object" || Array.isArray(schema)) {
    return;
  }
  const hasOwnSamples = "default" in schema || Array.isArray(schema.examples) || "example" in schema;
  if (hasOwnSamples) {
    const validate = compile(where, schema);
    if ("default" in schema) {
      check(where, validate, schema.default, "default");
    }
    (schema.examples ?? []).forEach((example, i) => check(`${where}/examples/${i}`, validate, example, "example"));
    if ("example" in schema) {
      check(where, validate, schema.example, "example");
    }
  }
  for (const key of schemaKeywords) {
    walkSchema(`${where}/${key}`, schema[key]);
  }
  for (const key of schemaListKeywords) {
    (Array.isArray(schema[key]) ? schema[key] : []).forEach((sub, i) => walkSchema(`${where}/${key}/${i}`, sub));
  }
  for (const key of schemaMapKeywords) {
    for (const [name, sub] of Object.entries(schema[key] ?? {})) {
      walkSchema(`${where}/${key}/${escape(name)}`, sub);
    }
  }
};

for (const [name, schema] of Object.entries(componentSchemas)) {
  const where = pointer("components", "schemas", name);
  try {
    ajv.getSchema(componentId(name)); // compiles it, strictly
  } catch (error) {
    problem(where, error.message);
    continue;
  }
  walkSchema(where, schema);
}

// 3. Schemas and examples of parameters, bodies, responses and headers.
const resolve = (value) => {
  let seen = 0;
  while (value && typeof value === "object" && typeof value.$ref === "string" && seen++ < 16) {
    if (!value.$ref.startsWith("#/")) {
      return value;
    }
    value = value.$ref
      .slice(2)
      .split("/")
      .map((p) => decodeURIComponent(p).replace(/~1/g, "/").replace(/~0/g, "~"))
      .reduce((node, part) => (node === undefined ? undefined : node[part]), doc);
  }
  return value;
};
const checkSchemaWithExamples = (where, holder) => {
  if (!holder || holder.schema === undefined) {
    return;
  }
  const validate = compile(`${where}/schema`, holder.schema);
  walkSchema(`${where}/schema`, holder.schema);
  if ("example" in holder) {
    check(where, validate, holder.example, "example");
  }
  for (const [name, example] of Object.entries(holder.examples ?? {})) {
    const resolved = resolve(example);
    if (resolved && "value" in resolved) {
      check(`${where}/examples/${name}`, validate, resolved.value, "example");
    }
  }
};
const checkContent = (where, content) => {
  for (const [type, media] of Object.entries(content ?? {})) {
    checkSchemaWithExamples(`${where}/content/${escape(type)}`, media);
  }
};
const checkParameters = (where, parameters) =>
  (parameters ?? []).forEach((parameter, i) => checkSchemaWithExamples(`${where}/parameters/${i}`, resolve(parameter)));
const checkHeaders = (where, headers) => {
  for (const [name, header] of Object.entries(headers ?? {})) {
    checkSchemaWithExamples(`${where}/headers/${name}`, resolve(header));
  }
};
const checkResponses = (where, responses) => {
  for (const [status, response] of Object.entries(responses ?? {})) {
    const resolved = resolve(response);
    checkContent(`${where}/responses/${status}`, resolved?.content);
    checkHeaders(`${where}/responses/${status}`, resolved?.headers);
  }
};

// The reusable components, used or not.
for (const [name, parameter] of Object.entries(doc.components?.parameters ?? {})) {
  checkSchemaWithExamples(pointer("components", "parameters", name), resolve(parameter));
}
checkHeaders("/components", doc.components?.headers);
checkResponses("/components", doc.components?.responses);
for (const [name, body] of Object.entries(doc.components?.requestBodies ?? {})) {
  checkContent(pointer("components", "requestBodies", name), resolve(body)?.content);
}

// 4. Path templates against path parameters, unique parameters, and unique
// operationIds.
const operationIds = new Map();
for (const [path, item] of Object.entries(doc.paths ?? {})) {
  const itemWhere = pointer("paths", path);
  const templated = new Set([...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]));
  checkParameters(itemWhere, item.parameters);
  for (const method of methods) {
    const operation = item[method];
    if (!operation) {
      continue;
    }
    const where = `${itemWhere}/${method}`;
    if (typeof operation.operationId === "string") {
      if (operationIds.has(operation.operationId)) {
        const other = operationIds.get(operation.operationId);
        problem(where, `operationId ${operation.operationId} is also used at ${other}`);
      }
      operationIds.set(operation.operationId, where);
    }
    const seen = new Set();
    for (const parameter of (operation.parameters ?? []).map(resolve)) {
      const key = `${parameter?.in} ${parameter?.name}`;
      if (seen.has(key)) {
        problem(where, `parameter ${parameter?.name} in ${parameter?.in} is listed twice`);
      }
      seen.add(key);
    }
    const declared = new Map();
    for (const parameter of [...(item.parameters ?? []), ...(operation.parameters ?? [])].map(resolve)) {
      if (parameter?.in === "path") {
        declared.set(parameter.name, parameter);
      }
    }
    for (const name of templated) {
      if (!declared.has(name)) {
        problem(where, `path parameter {${name}} is not declared`);
      }
    }
    for (const [name, parameter] of declared) {
      if (!templated.has(name)) {
        problem(where, `path parameter ${name} is not in the path template`);
      } else if (parameter.required !== true) {
        problem(where, `path parameter ${name} must be required`);
      }
    }
    checkParameters(where, operation.parameters);
    checkContent(`${where}/requestBody`, resolve(operation.requestBody)?.content);
    checkResponses(where, operation.responses);
  }
}

if (problems.size > 0) {
  console.error(`${file}: not a valid OpenAPI 3.1 document (${problems.size} problems):`);
  for (const line of problems) {
    console.error(`  ${line}`);
  }
  process.exit(1);
}
const paths = Object.values(doc.paths ?? {});
const operations = paths.reduce((n, item) => n + methods.filter((method) => item[method]).length, 0);
console.log(`${file}: valid OpenAPI ${doc.openapi} (${paths.length} paths, ${operations} operations)`);
