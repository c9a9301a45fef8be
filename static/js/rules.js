/* The rule builder: show each row's fields for its kind, add and remove groups, conditions and actions.
   Without this script every field shows and "Remove" is a checkbox; the server reads only what a kind uses. */
(function () {
  "use strict";

  var form = document.getElementById("rule-builder");
  if (!form) {
    return;
  }

  // What the one text field holds, per condition kind: its label and an example.
  var TEXT = {
    keywords: ["Words or phrases, comma-separated", "refund, warranty, money back"],
    phrase: ["Phrase", "out of stock"],
    regex: ["Regular expression (Python, case-insensitive)", "\\bNW-\\d{7}\\b"],
    hashtag: ["Hashtags, comma-separated", "#Trailfest, #GearUp"],
    cashtag: ["Cashtags, comma-separated", "$NWND"],
    language: ["Language codes, comma-separated", "en, es"],
  };
  var BOUNDS = {
    sentiment: ["Sentiment at least (-1 to 1)", "Sentiment at most (-1 to 1)"],
    followers: ["Followers at least", "Followers at most"],
  };
  var TARGET = { notify_email: "Email address", notify_webhook: "Webhook URL (https)" };

  function kindOf(row) {
    var select = row.querySelector("select[name$='-kind']");
    return select ? select.value : "";
  }

  function setLabel(row, suffix, text) {
    var input = row.querySelector("[name$='-" + suffix + "']");
    if (!input) {
      return;
    }
    var label = row.querySelector("label[for='" + input.id + "']");
    if (label && text) {
      label.textContent = text;
    }
    return input;
  }

  function showFields(row) {
    var kind = kindOf(row);
    row.querySelectorAll("[data-for]").forEach(function (wrapper) {
      wrapper.hidden = !kind || wrapper.getAttribute("data-for").split(" ").indexOf(kind) < 0;
    });
    if (row.hasAttribute("data-condition")) {
      if (TEXT[kind]) {
        var text = setLabel(row, "text", TEXT[kind][0]);
        if (text) {
          text.placeholder = TEXT[kind][1];
        }
      }
      if (BOUNDS[kind]) {
        setLabel(row, "minimum", BOUNDS[kind][0]);
        setLabel(row, "maximum", BOUNDS[kind][1]);
      }
    } else if (TARGET[kind]) {
      setLabel(row, "target", TARGET[kind]);
    }
  }

  function removable(element) {
    var box = element.querySelector(":scope > div > .builder-remove input[type=checkbox]");
    if (!box) {
      return;
    }
    box.addEventListener("change", function () {
      if (!box.checked) {
        return;
      }
      element.hidden = true;
      if (element.hasAttribute("data-group")) {
        element.querySelectorAll("[data-condition] .builder-remove input[type=checkbox]").forEach(function (inner) {
          inner.checked = true;
        });
      }
    });
  }

  function wire(row) {
    var select = row.querySelector("select[name$='-kind']");
    if (select) {
      select.addEventListener("change", function () {
        showFields(row);
      });
    }
    removable(row);
    showFields(row);
  }

  function fromTemplate(id, prefix) {
    var total = form.querySelector("input[name='" + prefix + "-TOTAL_FORMS']");
    var index = parseInt(total.value, 10);
    var html = document.getElementById(id).innerHTML.replace(/__prefix__/g, String(index));
    total.value = String(index + 1);
    var holder = document.createElement("div");
    holder.innerHTML = html.trim();
    return { element: holder.firstElementChild, index: index };
  }

  function addCondition(group) {
    var made = fromTemplate("condition-template", "cond");
    made.element.querySelector("input[name$='-group']").value = group.getAttribute("data-group-number");
    group.querySelector("[data-rows]").appendChild(made.element);
    wire(made.element);
    var select = made.element.querySelector("select[name$='-kind']");
    if (select) {
      select.focus();
    }
  }

  function wireGroup(group) {
    removable(group);
    var add = group.querySelector("[data-add-condition]");
    add.hidden = false;
    add.addEventListener("click", function () {
      addCondition(group);
    });
    group.querySelectorAll("[data-condition]").forEach(wire);
  }

  // How groups combine only matters once there are two.
  var match = form.querySelector(".builder__match");
  function showMatch() {
    var groups = form.querySelectorAll("[data-group]:not([hidden])").length;
    match.hidden = groups < 2 && !match.querySelector(".field__error");
  }
  form.addEventListener("change", showMatch);

  form.querySelectorAll("[data-group]").forEach(wireGroup);
  form.querySelectorAll("[data-action]").forEach(wire);

  var addGroup = form.querySelector("[data-add-group]");
  addGroup.hidden = false;
  addGroup.addEventListener("click", function () {
    var made = fromTemplate("group-template", "group");
    var number = String(made.index + 1);
    made.element.setAttribute("data-group-number", number);
    made.element.querySelector("[data-group-label]").textContent = number;
    form.querySelector("[data-groups]").appendChild(made.element);
    wireGroup(made.element);
    addCondition(made.element);
    showMatch();
  });
  showMatch();

  var addAction = form.querySelector("[data-add-action]");
  addAction.hidden = false;
  addAction.addEventListener("click", function () {
    var made = fromTemplate("action-template", "action");
    form.querySelector("[data-actions]").appendChild(made.element);
    wire(made.element);
    var select = made.element.querySelector("select[name$='-kind']");
    if (select) {
      select.focus();
    }
  });
})();
