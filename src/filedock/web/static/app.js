// filedock dashboard: the list of pages, then start. A new page (e.g. Batches) is one more
// registerPage call with its own script and a <div class="page" data-page="ID"> in index.html;
// the tab bar and the #/ID routes come from this list.
"use strict";

filedock.registerPage({
  id: "files",
  title: "Files",
  init: filedock.files.init,
  show: filedock.files.show,
});

document.addEventListener("DOMContentLoaded", filedock.start);
