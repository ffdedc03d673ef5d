// The admin's own script (the Content-Security-Policy allows no inline script).
(function () {
  'use strict';
  var meta = document.querySelector('meta[name="csrf-token"]');
  var token = meta ? meta.getAttribute('content') : '';

  // sqladmin's delete button sends a DELETE with jQuery: it carries the CSRF token too.
  if (window.jQuery) {
    window.jQuery(document).ajaxSend(function (event, xhr, options) {
      if (!/^(GET|HEAD|OPTIONS|TRACE)$/i.test(options.type || 'GET')) {
        xhr.setRequestHeader('X-CSRFToken', token);
      }
    });
  }

  // sqladmin's flash messages, which its template showed with an inline script.
  function showToasts() {
    if (!window.tabler || !window.tabler.bootstrap) {
      return;
    }
    document.querySelectorAll('.toast').forEach(function (element) {
      new window.tabler.bootstrap.Toast(element, { delay: 3000 }).show();
    });
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', showToasts);
  } else {
    showToasts();
  }
})();
