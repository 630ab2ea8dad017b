//! Model routes: a public name (alias) served as a target model on a set of nodes, with
//! ordered fallbacks to other routes. The table is rebuilt whole when an operator changes a
//! route and swapped in; a request reads it once and gets its plan, the steps to try in order.

use std::{collections::HashMap, sync::Arc};

use crate::config::RouteConfig;

/// One step of a plan: ask nodes for `model`, only among `nodes` when given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub model: Arc<str>,
    /// Node names the step may use; `None`: any node with the model.
    pub nodes: Option<Arc<[Arc<str>]>>,
}

#[derive(Debug, Default)]
pub struct RouteTable {
    by_alias: HashMap<String, Arc<RouteConfig>>,
}

/// Most steps a plan may hold: a route and its fallbacks, fallbacks of fallbacks included.
const MAX_STEPS: usize = 8;

/// `llama3` and `llama3:latest` name one model, as Ollama treats them.
fn key(name: &str) -> &str {
    name.strip_suffix(":latest").unwrap_or(name)
}

impl RouteTable {
    pub fn new(routes: impl IntoIterator<Item = RouteConfig>) -> RouteTable {
        RouteTable {
            by_alias: routes
                .into_iter()
                .map(|r| (key(&r.alias).to_owned(), Arc::new(r)))
                .collect(),
        }
    }

    /// Every alias, sorted: names clients may ask for besides the nodes' models.
    pub fn aliases(&self) -> Vec<String> {
        let mut aliases: Vec<String> = self.by_alias.values().map(|r| r.alias.clone()).collect();
        aliases.sort();
        aliases
    }

    /// The steps for a requested model: for an alias, its route then its fallbacks (depth
    /// first, each route once, so cycles end); for any other name, the name itself on any node.
    pub fn plan(&self, requested: &Arc<str>) -> Vec<Step> {
        let Some(route) = self.by_alias.get(key(requested)) else {
            return vec![Step {
                model: requested.clone(),
                nodes: None,
            }];
        };
        let mut steps = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        self.expand(route, &mut steps, &mut seen);
        steps
    }

    fn expand<'a>(
        &'a self,
        route: &'a RouteConfig,
        steps: &mut Vec<Step>,
        seen: &mut Vec<&'a str>,
    ) {
        if steps.len() >= MAX_STEPS || seen.contains(&key(&route.alias)) {
            return;
        }
        seen.push(key(&route.alias));
        steps.push(Step {
            model: route.target_model.as_str().into(),
            nodes: (!route.nodes.is_empty())
                .then(|| route.nodes.iter().map(|n| Arc::from(n.as_str())).collect()),
        });
        for fallback in &route.fallbacks {
            if let Some(next) = self.by_alias.get(key(fallback)) {
                self.expand(next, steps, seen);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(alias: &str, target: &str, nodes: &[&str], fallbacks: &[&str]) -> RouteConfig {
        RouteConfig {
            alias: alias.into(),
            target_model: target.into(),
            nodes: nodes.iter().map(|s| s.to_string()).collect(),
            fallbacks: fallbacks.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn models(steps: &[Step]) -> Vec<&str> {
        steps.iter().map(|s| &*s.model).collect()
    }

    #[test]
    fn plans_follow_fallbacks_in_order_once_each() {
        let table = RouteTable::new([
            route("chat", "big:70b", &["gpu"], &["small", "cloud"]),
            route("small", "small:8b", &[], &["chat", "cloud"]),
            route("cloud", "gpt-4o", &["openai"], &["missing"]),
        ]);
        let steps = table.plan(&"chat".into());
        assert_eq!(models(&steps), ["big:70b", "small:8b", "gpt-4o"]);
        assert_eq!(steps[0].nodes.as_deref().map(|n| n.len()), Some(1));
        assert_eq!(steps[1].nodes, None);
        // `:latest` is implied on both sides.
        assert_eq!(models(&table.plan(&"chat:latest".into())), models(&steps));
        // Not an alias: the name itself, anywhere.
        assert_eq!(models(&table.plan(&"llama3".into())), ["llama3"]);
    }
}
