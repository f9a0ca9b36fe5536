// The API page: renders /api/openapi.json (paths by tag, webhooks, shapes) with DOM text only.
'use strict';

(function () {
  const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function refName(schema) {
    return schema && schema.$ref ? schema.$ref.split('/').pop() : null;
  }

  function schemaBlock(schema) {
    const name = refName(schema);
    if (name) {
      const link = el('a', null, name);
      link.href = '#schema-' + name;
      return link;
    }
    return el('pre', null, JSON.stringify(schema, null, 2));
  }

  function table(headers, rows) {
    const t = el('table');
    const head = el('tr');
    headers.forEach((h) => head.appendChild(el('th', null, h)));
    t.appendChild(head);
    rows.forEach((cells) => {
      const tr = el('tr');
      cells.forEach((cell) => {
        const td = el('td');
        if (cell instanceof Node) td.appendChild(cell); else td.textContent = cell;
        tr.appendChild(td);
      });
      t.appendChild(tr);
    });
    return t;
  }

  function resolve(doc, item) {
    const name = refName(item);
    return name ? doc.components.responses[name] || item : item;
  }

  function operation(doc, method, path, op, anchor) {
    const box = el('details', 'op');
    box.id = anchor;
    const summary = el('summary');
    summary.appendChild(el('span', 'method m-' + method, method));
    summary.appendChild(el('span', 'path', path));
    summary.appendChild(el('span', 'summary', op.summary || ''));
    box.appendChild(summary);
    const body = el('div');
    if (op.description) body.appendChild(el('p', 'desc', op.description));
    if (op.parameters && op.parameters.length) {
      body.appendChild(el('h4', null, 'Parameters'));
      body.appendChild(table(['name', 'in', 'required', 'schema', 'description'], op.parameters.map((p) => [
        p.name, p.in, p.required ? 'yes' : 'no', JSON.stringify(p.schema || {}), p.description || '',
      ])));
    }
    const content = op.requestBody && op.requestBody.content;
    if (content) {
      body.appendChild(el('h4', null, 'Body'));
      Object.keys(content).forEach((type) => {
        body.appendChild(el('div', null, type));
        body.appendChild(schemaBlock(content[type].schema || {}));
      });
    }
    body.appendChild(el('h4', null, 'Responses'));
    body.appendChild(table(['status', 'description', 'body'], Object.keys(op.responses || {}).map((code) => {
      const r = resolve(doc, op.responses[code]);
      const types = r.content ? Object.keys(r.content) : [];
      const shape = types.length ? schemaBlock(r.content[types[0]].schema || {}) : '';
      return [code, r.description || '', shape];
    })));
    box.appendChild(body);
    return box;
  }

  function render(doc) {
    document.getElementById('status').hidden = true;
    const intro = document.getElementById('intro');
    intro.appendChild(el('p', null, (doc.info && doc.info.description) || ''));
    const byTag = new Map((doc.tags || []).map((t) => [t.name, []]));
    Object.keys(doc.paths || {}).forEach((path) => {
      METHODS.forEach((method) => {
        const op = doc.paths[path][method];
        if (!op) return;
        const tag = (op.tags && op.tags[0]) || 'other';
        if (!byTag.has(tag)) byTag.set(tag, []);
        byTag.get(tag).push([method, path, op]);
      });
    });
    const toc = document.getElementById('toc');
    const ops = document.getElementById('operations');
    byTag.forEach((items, tag) => {
      if (!items.length) return;
      const link = el('a', null, tag);
      link.href = '#tag-' + tag;
      toc.appendChild(link);
      const title = el('h2', null, tag);
      title.id = 'tag-' + tag;
      ops.appendChild(title);
      const about = (doc.tags || []).find((t) => t.name === tag);
      if (about && about.description) ops.appendChild(el('p', 'summary', about.description));
      items.forEach(([method, path, op], n) => ops.appendChild(operation(doc, method, path, op, `op-${tag}-${n}`)));
    });
    const hooks = doc.webhooks || {};
    if (Object.keys(hooks).length) {
      document.getElementById('webhooks-title').hidden = false;
      const box = document.getElementById('webhooks');
      Object.keys(hooks).forEach((name, n) => box.appendChild(operation(doc, 'post', name, hooks[name].post, 'hook-' + n)));
    }
    const shapes = (doc.components && doc.components.schemas) || {};
    document.getElementById('schemas-title').hidden = false;
    const list = document.getElementById('schemas');
    Object.keys(shapes).sort().forEach((name) => {
      const box = el('details', 'shape');
      box.id = 'schema-' + name;
      box.appendChild(el('summary', 'path', name));
      const inner = el('div');
      inner.appendChild(el('pre', null, JSON.stringify(shapes[name], null, 2)));
      box.appendChild(inner);
      list.appendChild(box);
    });
    if (location.hash) {
      const target = document.getElementById(location.hash.slice(1));
      if (target && target.tagName === 'DETAILS') target.open = true;
    }
  }

  document.addEventListener('click', (event) => {
    const link = event.target.closest && event.target.closest('a[href^="#schema-"]');
    if (!link) return;
    const target = document.getElementById(link.getAttribute('href').slice(1));
    if (target) target.open = true;
  });

  fetch('/api/openapi.json', { credentials: 'same-origin' })
    .then((r) => { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
    .then(render)
    .catch((err) => { document.getElementById('status').textContent = 'Could not load the description: ' + err.message; });
})();
