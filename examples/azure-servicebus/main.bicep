// orders on Azure: a Service Bus namespace with the function's queues
// (maxDeliveryCount and lock duration set, native dead-lettering) and a
// parking queue for rejected messages, a Flex Consumption function app
// running the Go custom handler with a managed identity for everything it
// reaches (Service Bus, storage, Application Insights, Key Vault), and metric
// alerts on dead-lettered and parked messages.
//
//   az deployment group create -g <group> -f main.bicep -p redisUrl='rediss://...'
//
// Check it first with `az bicep build -f main.bicep`.

@description('Prefix of every resource name.')
param name string = 'orders-${uniqueString(resourceGroup().id)}'
param location string = resourceGroup().location
@description('Deliveries before Service Bus moves a message to the dead-letter subqueue.')
param maxDeliveryCount int = 5
@description('Peek-lock duration; the Functions host renews it up to maxAutoLockRenewalDuration (host.json).')
param lockDuration string = 'PT1M'
@description('Address the alerts notify; empty for none.')
param alertEmail string = ''
@secure()
@description('Idempotency store URL, rediss://user:password@host:6380/0, kept in Key Vault.')
param redisUrl string

var compact = take(toLower(replace(name, '-', '')), 20)
var queueNames = ['orders', 'orders-bulk']

resource sb 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: '${name}-sb'
  location: location
  sku: { name: 'Standard', tier: 'Standard' }
  properties: {
    disableLocalAuth: true // managed identity only
    minimumTlsVersion: '1.2'
  }
}

resource queues 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = [for q in queueNames: {
  parent: sb
  name: q
  properties: {
    maxDeliveryCount: maxDeliveryCount
    lockDuration: lockDuration
    deadLetteringOnMessageExpiration: true
    // Equal to EVENTFN_IDEMPOTENCY_TTL: a copy still in the queue is still
    // recognised as a duplicate.
    defaultMessageTimeToLive: 'P4D'
  }
}]

// Rejected (permanently failing) messages are parked here by the
// function's "rejected" output binding; dead letters of the other queues
// stay in their $DeadLetterQueue subqueues.
resource rejectedQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: sb
  name: 'orders-rejected'
  properties: {
    maxDeliveryCount: maxDeliveryCount
    lockDuration: lockDuration
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P14D'
  }
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: '${compact}st'
  location: location
  sku: { name: 'Standard_LRS' }
  kind: 'StorageV2'
  properties: {
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false // managed identity only
  }
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource deployments 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobs
  name: 'deployments'
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${name}-logs'
  location: location
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: '${name}-insights'
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    DisableLocalAuth: true // managed identity only
  }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: '${compact}kv'
  location: location
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    enablePurgeProtection: true
  }
}

resource redisSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'redis-url'
  properties: { value: redisUrl }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: '${name}-plan'
  location: location
  sku: { name: 'FC1', tier: 'FlexConsumption' }
  kind: 'functionapp'
  properties: { reserved: true }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: '${name}-func'
  location: location
  kind: 'functionapp,linux'
  identity: { type: 'SystemAssigned' }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deployments.name}'
          authentication: { type: 'SystemAssignedIdentity' }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: 40
        instanceMemoryMB: 2048
      }
      runtime: { name: 'custom', version: '1.0' }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      appSettings: [
        // Identity-based connections: no keys in settings.
        { name: 'AzureWebJobsStorage__accountName', value: storage.name }
        { name: 'ServiceBusConnection__fullyQualifiedNamespace', value: '${sb.name}.servicebus.windows.net' }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: insights.properties.ConnectionString }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'Authorization=AAD' }
        { name: 'ORDERS_QUEUE', value: 'orders' }
        { name: 'ORDERS_BULK_QUEUE', value: 'orders-bulk' }
        { name: 'ORDERS_REJECTED_QUEUE', value: rejectedQueue.name }
        { name: 'EVENTFN_IDEMPOTENCY_TTL', value: '96h' }
        { name: 'EVENTFN_REDIS_URL', value: '@Microsoft.KeyVault(SecretUri=${redisSecret.properties.secretUri})' }
        { name: 'ORDERS_LEDGER_FILE', value: '/tmp/orders-ledger.jsonl' }
      ]
    }
  }
  dependsOn: [queues]
}

// Built-in role definitions the app's identity is granted, each on one resource.
var roles = {
  serviceBusReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
  serviceBusSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
  blobOwner: 'b7e6dc6d-f1e8-4753-8033-0f2a5dac22e6'
  queueContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  tableContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  metricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
}

resource sbReceive 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: sb
  name: guid(sb.id, app.id, roles.serviceBusReceiver)
  properties: {
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusReceiver)
  }
}

resource sbSend 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: rejectedQueue
  name: guid(rejectedQueue.id, app.id, roles.serviceBusSender)
  properties: {
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusSender)
  }
}

resource storageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in [roles.blobOwner, roles.queueContributor, roles.tableContributor]: {
  scope: storage
  name: guid(storage.id, app.id, role)
  properties: {
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
  }
}]

resource insightsPublish 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: insights
  name: guid(insights.id, app.id, roles.metricsPublisher)
  properties: {
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.metricsPublisher)
  }
}

resource vaultRead 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: vault
  name: guid(vault.id, app.id, roles.keyVaultSecretsUser)
  properties: {
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
  }
}

resource alerts 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: '${name}-alerts'
  location: 'global'
  properties: {
    groupShortName: take(compact, 12)
    enabled: true
    emailReceivers: [ { name: 'email', emailAddress: alertEmail, useCommonAlertSchema: true } ]
  }
}

// A dead-letter queue nobody watches is a loss with extra steps.
resource deadLetterAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${name}-dead-letters'
  location: 'global'
  properties: {
    description: 'Messages were dead-lettered (maxDeliveryCount exceeded); inspect and redrive them with eventfn dlq.'
    severity: 2
    enabled: true
    scopes: [ sb.id ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          name: 'DeadLettered'
          criterionType: 'StaticThresholdCriterion'
          metricName: 'DeadletteredMessages'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          dimensions: [ { name: 'EntityName', operator: 'Include', values: concat(queueNames, [rejectedQueue.name]) } ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Maximum'
        }
      ]
    }
    actions: empty(alertEmail) ? [] : [ { actionGroupId: alerts.id } ]
  }
}

resource parkedAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${name}-parked'
  location: 'global'
  properties: {
    description: 'Rejected messages are parked on ${rejectedQueue.name}.'
    severity: 2
    enabled: true
    scopes: [ sb.id ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          name: 'Parked'
          criterionType: 'StaticThresholdCriterion'
          metricName: 'ActiveMessages'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          dimensions: [ { name: 'EntityName', operator: 'Include', values: [ rejectedQueue.name ] } ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Maximum'
        }
      ]
    }
    actions: empty(alertEmail) ? [] : [ { actionGroupId: alerts.id } ]
  }
}

output functionAppName string = app.name
output serviceBusNamespace string = sb.name
